"""`/api/sessions/{id}/files/first`: the text of the file a room page opens first, as plain JSON.

A page shows it read-only while the live doc syncs (#18 item 5: a 1,500-file project's whole doc
is tens of megabytes, minutes on a phone's network; this is kilobytes), then the editor takes
over. Same identity and role check as the room's WebSocket (viewers read).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pycrdt import Map, Text
from pydantic import BaseModel

from backend.access.authorize import Action, require
from backend.routes.api_history import HistoryPrincipalDep
from backend.routes.deps import RoomsDep

router = APIRouter(prefix="/api/sessions/{session_id}/files", tags=["files"])

# The beginning of a long file is what fits a screen; the editor loads the rest with the doc.
FIRST_TEXT_MAX_CHARS = 256 * 1024


class FirstText(BaseModel):
    path: str
    text: str
    truncated: bool  # the text is the file's beginning only
    files: int  # how many text files the session has


@router.get(
    "/first", response_model=FirstText, responses={204: {"description": "the session has no text file yet"}}
)
async def first_text(
    session_id: str,
    principal: HistoryPrincipalDep,
    rooms: RoomsDep,
    response: Response,
    path: Annotated[str | None, Query(max_length=4096)] = None,
) -> Any:  # FirstText, or an empty 204
    """`path` when the session has it (the page's last open tab), else the main file, else the
    first path in sorted order: the file the page opens first. 204 for a session without one
    (a new room: not an error a browser should log)."""
    require(principal, session_id, Action.READ)
    response.headers["Cache-Control"] = "no-store"
    room = await rooms.acquire(session_id)
    room.pin()  # loaded while we read (an idle room could unload between two awaits)
    try:
        files = room.doc.get("files", type=Map)
        chosen = path if path is not None and path in files else None
        if chosen is None:
            main = room.doc.get("meta", type=Map).get("main")
            chosen = main if isinstance(main, str) and main in files else min(files.keys(), default=None)
        value = files.get(chosen) if chosen is not None else None
        if chosen is None or not isinstance(value, Text):
            return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": "no-store"})
        text = str(value)
        return FirstText(
            path=chosen,
            text=text[:FIRST_TEXT_MAX_CHARS],
            truncated=len(text) > FIRST_TEXT_MAX_CHARS,
            files=len(files),
        )
    finally:
        room.unpin()

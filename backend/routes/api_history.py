"""`/api/sessions/{id}/history`: versions of a session, diffs against now, restores as new changes.

Each route: authenticate -> authorize (viewers read, editors and owners restore) -> hand over to
backend.history. Restoring never rewrites history: the current state is recorded first, the old
content is applied as minimal edits in one transaction, and the restore is itself a version.
"""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from backend.access.authorize import Action, require
from backend.auth.types import Principal
from backend.errors import CredentialsMissingError
from backend.history import docfiles
from backend.history.models import SessionVersion, VersionPublic
from backend.history.recorder import HistoryRecorder
from backend.ops import logcontext
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.routes.deps import AuthenticatorDep, CsrfDep, HistoryDep, RoomsDep, SettingsDep

router = APIRouter(prefix="/api/sessions/{session_id}/history", tags=["history"])

RESTORE_ORIGIN = "tandem-history-restore"


async def history_principal(request: Request, session_id: str, authenticator: AuthenticatorDep) -> Principal:
    """The caller, through the same Identity seam as the WebSockets (works under --no-auth too)."""
    principal = await authenticator.authenticate(request, session_id)
    if principal is None:
        raise CredentialsMissingError("no credentials")
    logcontext.bind_principal(principal, session_id)
    return principal


HistoryPrincipalDep = Annotated[Principal, Depends(history_principal)]


class VersionList(BaseModel):
    versions: list[VersionPublic]


class FileDiff(BaseModel):
    path: str
    status: str  # added | removed | changed | unchanged (relative to the version: "now vs then")
    diff: str  # unified diff from the version to now


class DiffResult(BaseModel):
    version: VersionPublic
    files: list[FileDiff]


class RestoreRequest(BaseModel):
    file: str | None = None  # None: the whole session


class RestoreResult(BaseModel):
    restored: list[str]
    version: VersionPublic | None


async def _version(recorder: HistoryRecorder, session_id: str, version_id: int) -> SessionVersion:
    row = await anyio.to_thread.run_sync(recorder.store.get, session_id, version_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such version")
    return row


@asynccontextmanager
async def _pinned(rooms: RoomManager, session_id: str) -> AsyncIterator[Room]:
    """The live room, held loaded while we read or write it."""
    room = await rooms.acquire(session_id)
    room.pin()
    try:
        yield room
    finally:
        room.unpin()


@router.get("")
async def list_versions(
    session_id: str,
    principal: HistoryPrincipalDep,
    recorder: HistoryDep,
    settings: SettingsDep,
    file: str | None = None,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> VersionList:
    """Newest first; `file` keeps the versions that changed that path; page with `before`."""
    require(principal, session_id, Action.READ)
    limit = min(limit, settings.history_page_max)
    rows = await anyio.to_thread.run_sync(lambda: recorder.store.list(session_id, limit, before, file))
    return VersionList(versions=[VersionPublic.of(r) for r in rows])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[CsrfDep])
async def take_version(
    session_id: str, principal: HistoryPrincipalDep, recorder: HistoryDep, rooms: RoomsDep
) -> VersionPublic:
    """Record a version now (a named checkpoint). When nothing changed since the latest version,
    that version becomes the checkpoint (one state is one version: backend/history/store.py)."""
    require(principal, session_id, Action.EDIT_DOC)
    async with _pinned(rooms, session_id) as room:
        row = await recorder.record(room, kind="manual", author=_author(principal), force=True)
    assert row is not None
    return VersionPublic.of(row)


@router.get("/{version_id}/diff")
async def diff_version(
    session_id: str,
    version_id: int,
    principal: HistoryPrincipalDep,
    recorder: HistoryDep,
    rooms: RoomsDep,
    settings: SettingsDep,
    file: str | None = None,
) -> DiffResult:
    """Unified diffs from the version to now: one file, or every file that differs."""
    require(principal, session_id, Action.READ)
    row = await _version(recorder, session_id, version_id)
    old = await anyio.to_thread.run_sync(recorder.store.files_at, row)
    async with _pinned(rooms, session_id) as room:
        now = docfiles.files_of(room.doc)
    paths = (
        [file] if file is not None else sorted(p for p in old.keys() | now.keys() if old.get(p) != now.get(p))
    )
    limit = settings.history_max_file_bytes
    out: list[FileDiff] = []
    for path in paths:
        then_text, now_text = old.get(path), now.get(path)
        if max(len(then_text or ""), len(now_text or "")) > limit:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"{path} is over the diff limit")
        out.append(
            FileDiff(path=path, status=_status(then_text, now_text), diff=_unified(path, then_text, now_text))
        )
    return DiffResult(version=VersionPublic.of(row), files=out)


@router.get("/{version_id}/file")
async def file_at_version(
    session_id: str, version_id: int, path: str, principal: HistoryPrincipalDep, recorder: HistoryDep
) -> dict[str, str]:
    """One file's content as it was in the version."""
    require(principal, session_id, Action.READ)
    row = await _version(recorder, session_id, version_id)
    old = await anyio.to_thread.run_sync(recorder.store.files_at, row)
    if path not in old:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in that version")
    return {"path": path, "content": old[path]}


@router.post("/{version_id}/restore", dependencies=[CsrfDep])
async def restore_version(
    session_id: str,
    version_id: int,
    body: RestoreRequest,
    principal: HistoryPrincipalDep,
    recorder: HistoryDep,
    rooms: RoomsDep,
) -> RestoreResult:
    """Make a file (or every file) match the version again, as a new change everyone receives."""
    require(principal, session_id, Action.EDIT_DOC)
    row = await _version(recorder, session_id, version_id)
    old = await anyio.to_thread.run_sync(recorder.store.files_at, row)
    if body.file is not None and body.file not in old:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in that version")
    async with _pinned(rooms, session_id) as room:
        await recorder.record(room, kind="auto", note="before restore")  # keep what is replaced
        paths = [body.file] if body.file is not None else None
        restored = docfiles.restore(room.doc, old, paths, RESTORE_ORIGIN)
        what = body.file or "the session"
        version = None
        if restored:
            version = await recorder.record(
                room,
                kind="restore",
                author=_author(principal),
                note=f"restored {what} to version {version_id}",
            )
    return RestoreResult(restored=restored, version=VersionPublic.of(version) if version else None)


def _author(principal: Principal) -> dict[str, str]:
    return {"id": principal.id, "name": principal.name}


def _status(then_text: str | None, now_text: str | None) -> str:
    if then_text is None:
        return "added" if now_text is not None else "unchanged"
    if now_text is None:
        return "removed"
    return "unchanged" if then_text == now_text else "changed"


def _unified(path: str, then_text: str | None, now_text: str | None) -> str:
    lines = difflib.unified_diff(
        (then_text or "").splitlines(keepends=True),
        (now_text or "").splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    # A last line without a newline gets diff's marker, or it would run into the next line.
    marker = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith("\n") else line + marker for line in lines)

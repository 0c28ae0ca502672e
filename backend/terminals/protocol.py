"""The `/term/{session}/{terminal}` wire protocol.

Binary frames: raw terminal bytes, both ways (client -> input, server -> output).
Text frames: JSON control messages with a `type`, parsed once into the models below.

Client -> server: `resize` {cols, rows}; `restart` {} (hang up the shell, start a new one).
Server -> client: `resync` {reason, status, cols, rows, exit_code} (reset the screen; the next
binary frame is the scrollback), `skipped` {bytes, status, cols, rows, exit_code} (this client
fell behind and `bytes` of output were dropped for it; a `status` frame follows, then one binary
frame with a dim one-line mark and the newest output it missed — no reset),
`status` {status, cols, rows}, `exit` {code},
`attribution` {author {id, name, color}, at, nbytes}, `error` {code, message}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from backend.errors import ProtocolError
from sandbox import Attribution, Exited, Resized, Resync, Skipped, StatusChanged, TerminalEvent

MAX_CONTROL_BYTES = 4096


class Resize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["resize"]
    cols: int = Field(ge=1, le=1000)
    rows: int = Field(ge=1, le=500)


class Restart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["restart"]


ClientMessage = Annotated[Resize | Restart, Field(discriminator="type")]
_client_message: TypeAdapter[Resize | Restart] = TypeAdapter(ClientMessage)


def parse_client_message(text: str) -> Resize | Restart:
    if len(text) > MAX_CONTROL_BYTES:
        raise ProtocolError(f"control message over {MAX_CONTROL_BYTES} bytes")
    try:
        return _client_message.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProtocolError(f"bad control message: {first['msg']} at {first['loc']}") from exc


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def control_frame(event: TerminalEvent, authors: Mapping[str, dict[str, str]]) -> str | None:
    """The JSON text frame for a hub event (`Output` and `Resync` data go as binary frames)."""
    if isinstance(event, Resync):
        return dumps(
            {
                "type": "resync",
                "reason": event.reason,
                "status": event.status,
                "cols": event.cols,
                "rows": event.rows,
                "exit_code": event.exit_status,
            }
        )
    if isinstance(event, Skipped):
        return dumps(
            {
                "type": "skipped",
                "bytes": event.nbytes,
                "status": event.status,
                "cols": event.cols,
                "rows": event.rows,
                "exit_code": event.exit_status,
            }
        )
    if isinstance(event, StatusChanged):
        return dumps({"type": "status", "status": event.status})
    if isinstance(event, Resized):
        return dumps({"type": "status", "cols": event.cols, "rows": event.rows})
    if isinstance(event, Exited):
        return dumps({"type": "exit", "code": event.status})
    if isinstance(event, Attribution):
        author = authors.get(event.author_id) or {"id": event.author_id, "name": event.author_id, "color": ""}
        return dumps({"type": "attribution", "author": author, "at": event.at, "nbytes": event.nbytes})
    return None


def error_frame(code: str, message: str) -> str:
    return dumps({"type": "error", "code": code, "message": message})


def status_frame(event: Skipped) -> str:
    """The state a `skipped` client may have missed, as the `status` frame every client knows."""
    return dumps({"type": "status", "status": event.status, "cols": event.cols, "rows": event.rows})


def skip_mark(nbytes: int) -> bytes:
    """A dim one-line note written where `nbytes` of output were skipped for this client."""
    if nbytes >= 1_000_000:
        size = f"{nbytes / 1_000_000:.1f} MB"
    elif nbytes >= 1_000:
        size = f"{nbytes / 1_000:.1f} kB"
    else:
        size = f"{nbytes} bytes"
    return f"\r\n\x1b[2m[… {size} of output skipped — you fell behind]\x1b[0m\r\n".encode()

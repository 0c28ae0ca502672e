"""Room names: the single raw path segment after the prefix, URL-decoded, then validated."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from backend.errors import RoomNameError

# Letters and digits of any script, and a few separators; `/` only arrives encoded as %2F.
_ALLOWED = re.compile(r"^[\w\-.~:@+=/ ]+$")


def room_from_raw_path(raw_path: bytes, prefix: str, max_length: int) -> str:
    """`/yjs/a%2Fb` -> `a/b`; `/yjs/a/b` is refused, never mapped to another room."""
    path = raw_path.decode("latin-1").split("?", 1)[0]
    if not path.startswith(prefix):
        raise RoomNameError("wrong prefix")
    segment = path[len(prefix) :]
    if not segment:
        raise RoomNameError("missing room name")
    if "/" in segment:
        raise RoomNameError("room name must be a single path segment (encode '/' as %2F)")
    try:
        name = unquote(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise RoomNameError("room name is not UTF-8") from exc
    return validate_room_name(name, max_length)


def validate_room_name(name: str, max_length: int) -> str:
    if not name or len(name) > max_length:
        raise RoomNameError(f"room name must be 1 to {max_length} characters")
    if unicodedata.normalize("NFC", name) != name:
        raise RoomNameError("room name must be NFC-normalized")
    if not _ALLOWED.match(name) or name.strip() != name or name in {".", ".."}:
        raise RoomNameError("room name has characters outside letters, digits and -_.~:@+=/ ")
    return name

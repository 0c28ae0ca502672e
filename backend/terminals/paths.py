"""Names on disk and on the wire: `/term/{session}/{terminal}` paths, workspace directories,
and the label that marks this install's containers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote, unquote

from backend.errors import RoomNameError, TerminalNameError
from backend.rooms.names import validate_room_name
from backend.settings import Settings

PREFIX = "/term/"
_TERMINAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAX_DIR_NAME = 200


def parse_term_path(raw_path: bytes, settings: Settings) -> tuple[str, str]:
    """`/term/a%2Fb/main` -> ("a/b", "main"): each name one raw segment, then URL-decoded."""
    path = raw_path.decode("latin-1").split("?", 1)[0]
    if not path.startswith(PREFIX):
        raise TerminalNameError("wrong prefix")
    segments = path[len(PREFIX) :].split("/")
    if len(segments) != 2 or not all(segments):
        raise TerminalNameError("expected /term/{session}/{terminal}")
    try:
        session = validate_room_name(unquote(segments[0], errors="strict"), settings.room_name_max_length)
    except (RoomNameError, UnicodeDecodeError) as exc:
        raise TerminalNameError(f"bad session name: {exc}") from exc
    return session, validate_terminal_name(unquote(segments[1]), settings.terminal_name_max_length)


def validate_terminal_name(name: str, max_length: int) -> str:
    if not 1 <= len(name) <= max_length or not _TERMINAL.match(name):
        raise TerminalNameError(f"terminal names are 1-{max_length} of A-Z a-z 0-9 _ . - (not first)")
    return name


def workspace_dir(settings: Settings, session: str) -> Path:
    """`data/workspaces/{session}`, the session name percent-encoded into one safe segment."""
    name = quote(session, safe="-_.~")
    if len(name) > _MAX_DIR_NAME or name.startswith("."):
        digest = hashlib.sha256(session.encode()).hexdigest()[:16]
        name = f"{re.sub(r'[^A-Za-z0-9_-]+', '-', session)[:40]}-{digest}"
    return (settings.data / "workspaces" / name).resolve()


def sandbox_instance(settings: Settings) -> str:
    """The label value of this install's containers (orphan reaping never crosses installs)."""
    if settings.sandbox_instance:
        return settings.sandbox_instance
    return "data-" + hashlib.sha256(str(settings.data.resolve()).encode()).hexdigest()[:12]

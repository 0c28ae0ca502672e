"""A terminal's previous shell: when and why it ended, and the tail of what it showed.

A new shell never appears silently in place of an old one. When a terminal ends (server shutdown,
hung up, failed), its end and its scrollback ring are written under
`{data}/terminals/{session}/{name}.json|.scrollback`; a server killed without a shutdown leaves
its terminals in the doc's `terminals` map, which the next start reads as "server restart". The
next shell of that terminal starts with the old scrollback and one line saying what happened, and
its doc entry carries `previous` {ended_at, reason} for the panel.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from backend.settings import Settings
from backend.terminals.paths import workspace_dir

log = logging.getLogger("tandem.terminals")


@dataclass(frozen=True)
class PreviousShell:
    ended_at: float | None  # None: unknown (the server was killed)
    reason: str
    scrollback: bytes = b""

    def banner(self) -> bytes:
        when = time.strftime("%H:%M UTC", time.gmtime(self.ended_at)) if self.ended_at else "an unknown time"
        text = f"previous shell ended at {when} — {self.reason}; this is a new shell"
        return f"\r\n\x1b[0m\x1b[2m--- {text} ---\x1b[0m\r\n".encode()

    def preamble(self) -> bytes:
        """What the new shell's scrollback starts with: the old tail, then the banner."""
        return self.scrollback + self.banner()

    def doc_fields(self) -> dict[str, object]:
        return {"ended_at": self.ended_at, "reason": self.reason}


def _dir(settings: Settings, session: str) -> Path:
    # Beside the workspaces, named like them (one safe path segment per session).
    return settings.data / "terminals" / workspace_dir(settings, session).name


def save(settings: Settings, session: str, name: str, shell: PreviousShell) -> None:
    """Record a terminal's end (called from a thread: blocking file I/O)."""
    folder = _dir(settings, session)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tail = shell.scrollback[-settings.terminal_scrollback_bytes :]
        (folder / f"{name}.scrollback").write_bytes(tail)
        meta = {"ended_at": shell.ended_at, "reason": shell.reason}
        (folder / f"{name}.json").write_text(json.dumps(meta))
    except OSError as exc:
        log.warning("session %r terminal %r: cannot keep its scrollback: %s", session, name, exc)


def forget(settings: Settings, session: str) -> None:
    """A deleted session's terminals leave nothing behind."""
    shutil.rmtree(_dir(settings, session), ignore_errors=True)


def take(settings: Settings, session: str, name: str) -> PreviousShell | None:
    """The recorded end of this terminal's last shell, removed from disk (called from a thread)."""
    folder = _dir(settings, session)
    meta_path, data_path = folder / f"{name}.json", folder / f"{name}.scrollback"
    try:
        meta = json.loads(meta_path.read_text())
        data = data_path.read_bytes() if data_path.exists() else b""
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("session %r terminal %r: unreadable previous shell: %s", session, name, exc)
        return None
    for path in (meta_path, data_path):
        path.unlink(missing_ok=True)
    ended = meta.get("ended_at")
    return PreviousShell(
        float(ended) if isinstance(ended, int | float) else None, str(meta.get("reason", "")), data
    )

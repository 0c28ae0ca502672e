"""What keeps a node's terminals from piling up: idle hang-ups, deactivation, orphan reaping.

A terminal nobody watched for `terminal_detached_close_seconds` is hung up; a session left
without terminals for a short grace period is deactivated (sync flushed, room unpinned), so its
container can idle-stop and its sandbox counts no more against `max_active_sandboxes`. Containers
of this install whose session has no workspace any more are removed at start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio

from backend.settings import Settings
from backend.terminals.active import ActiveSession
from backend.terminals.paths import workspace_dir
from sandbox import SandboxBackend

log = logging.getLogger("tandem.terminals")

SESSION_GRACE_SECONDS = 30.0


async def sweep_forever(settings: Settings, sessions: Mapping[str, ActiveSession]) -> None:
    """Hang up terminals nobody watched for a while; deactivate sessions left without any."""
    limit = settings.terminal_detached_close_seconds
    interval = max(0.2, min(30.0, limit / 4))
    while True:
        await anyio.sleep(interval)
        for entry in list(sessions.values()):
            await _sweep(entry, limit)


async def _sweep(entry: ActiveSession, limit: float) -> None:
    now = anyio.current_time()
    for term in list(entry.terminals.values()):
        if term.detached_since is not None and term.attached == 0 and now - term.detached_since >= limit:
            log.info("terminal %s/%s: nobody watching for %.0fs, hanging up", entry.name, term.name, limit)
            term.end_reason = f"nobody watched it for {limit / 60:.0f} min"
            term.scope.cancel()
            await term.done.wait()
    # A session without terminals for a short grace period is deactivated.
    idle = not entry.terminals and now - entry.empty_since >= min(limit, SESSION_GRACE_SECONDS)
    if entry.ready.is_set() and idle and not entry.closing:
        await entry.close()
        log.info("session %r: no terminals left, deactivated", entry.name)


async def reap_orphans(settings: Settings, sandbox: SandboxBackend) -> list[str]:
    """Remove this install's containers whose session has no workspace any more."""
    labelled = await sandbox.managed_sessions()
    known = [name for name in labelled if workspace_dir(settings, name).exists()]
    reaped = await sandbox.reap_orphans(known)
    if reaped:
        log.info("reaped %d orphan containers", len(reaped))
    return reaped

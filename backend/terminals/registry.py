"""`TerminalRegistry`: every live terminal of this node, keyed by (session, terminal name).

It holds the node's `ActiveSession`s (room hold, container and file sync of each: active.py)
and their terminals (each run by `terminal.run_terminal` in the registry's task group), enforces
the caps — terminals per session, and `max_active_sandboxes` per node — and answers the rest of
the backend: attach, attribution, deletion, shutdown. Housekeeping is housekeeping.py's.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.abc

from backend.auth.types import Principal
from backend.errors import SandboxLimitError, TerminalLimitError, TerminalNotFoundError
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.terminals import housekeeping
from backend.terminals import previous as previous_shell
from backend.terminals.active import ActiveSession, Terminal
from backend.terminals.paths import workspace_dir
from backend.terminals.terminal import run_terminal
from backend.terminals.workspace_syncs import WorkspaceSyncs
from sandbox import SandboxBackend, SandboxError, TerminalSubscription

log = logging.getLogger("tandem.terminals")


class TerminalRegistry:
    def __init__(
        self,
        settings: Settings,
        sandbox: SandboxBackend,
        rooms: RoomManager,
        task_group: anyio.abc.TaskGroup,
        syncs: WorkspaceSyncs,
    ) -> None:
        self.settings = settings
        self._syncs = syncs
        self.sandbox = sandbox
        self._rooms = rooms
        self._tg = task_group
        self.sessions: dict[str, ActiveSession] = {}
        self._closed = False

    # -- attach ---------------------------------------------------------------------------

    @asynccontextmanager
    async def attach(
        self, session: str, name: str, principal: Principal, *, can_start: bool, can_type: bool
    ) -> AsyncIterator[tuple[Terminal, TerminalSubscription]]:
        """Subscribe to a terminal, starting it (and the session's sandbox) when allowed.

        A role that may not start terminals only ever watches one that runs: it never activates
        a session (so never starts its container or touches its workspace). Raises
        `SandboxLimitError` when the session would be one active sandbox too many."""
        entry = await self._entry(session, create=can_start)
        if entry is None:
            raise TerminalNotFoundError(f"no terminal {name!r} runs in this session")
        entry.empty_since = anyio.current_time()  # the sweeper leaves a session being joined alone
        entry.remember(principal)
        term = entry.terminals.get(name)
        if term is None:
            if not can_start:
                raise TerminalNotFoundError(f"no terminal {name!r} runs in this session")
            if len(entry.terminals) >= self.settings.terminals_per_session:
                raise TerminalLimitError(
                    f"this session has {self.settings.terminals_per_session} terminals already"
                )
            # Registered before the session is ready, so a viewer arriving meanwhile finds it.
            opened_by = {"id": principal.id, "name": principal.name}
            term = entry.terminals[name] = Terminal(session, name, opened_by)
            self._tg.start_soon(self._run_terminal, entry, term, name=f"terminal:{session}/{name}")
        await entry.ready.wait()
        if entry.error is not None:
            raise entry.error
        await term.ready.wait()
        if term.hub is None:
            raise term.error or SandboxError(f"terminal {name!r} failed to start")
        if term.hub.status == "exited" and can_start:
            await term.hub.restart()  # reconnecting to a finished shell starts a new one
        try:
            async with term.hub.attach(principal.id, can_write=can_type) as sub:
                term.detached_since = None
                yield term, sub
        finally:
            if term.attached == 0:
                term.detached_since = anyio.current_time()

    async def _run_terminal(self, entry: ActiveSession, term: Terminal) -> None:
        await run_terminal(entry, term, self.settings, shutting_down=lambda: self._closed)

    def authors(self, session: str) -> Mapping[str, dict[str, str]]:
        """Who attached to the session's terminals (id -> id, name, color), for attribution frames."""
        entry = self.sessions.get(session)
        return entry.authors if entry is not None else {}

    def terminal_activity(self, session: str, since: float) -> tuple[int, list[dict[str, str]]]:
        """(file changes the session's terminal made since its sandbox started, who typed into
        its terminals at or after Unix time `since`, first typist first) — history's credit."""
        entry = self.sessions.get(session)
        if entry is None:
            return 0, []
        typists: list[str] = []
        for term in entry.terminals.values():
            for record in term.hub.attributions if term.hub is not None else ():
                if record.at >= since and record.author_id not in typists:
                    typists.append(record.author_id)
        names = entry.authors
        disk_changes = entry.sync.disk_changes if entry.sync is not None else 0
        return disk_changes, [{"id": i, "name": names.get(i, {}).get("name", i)} for i in typists]

    # -- sessions -------------------------------------------------------------------------

    async def _entry(self, session: str, *, create: bool) -> ActiveSession | None:
        """The session's live entry; with `create`, activate it (start its sandbox) when needed.

        Without `create` (a viewer), a session that is not active stays so: None."""
        while True:
            if self._closed:
                raise SandboxError("the server is shutting down")
            entry = self.sessions.get(session)
            if entry is None:
                if not create:
                    return None
                limit = self.settings.max_active_sandboxes
                if len(self.sessions) >= limit:
                    # Counted with the ones still closing: their containers are not stopped yet.
                    log.info("session %r: refused a sandbox, all %d are in use", session, limit)
                    raise SandboxLimitError(f"all {limit} sandboxes are in use; try again when one frees")
                workspace = workspace_dir(self.settings, session)
                entry = self.sessions[session] = ActiveSession(session, workspace, self.sandbox)
                self._tg.start_soon(self._run_session, entry, name=f"session-sandbox:{session}")
            elif entry.closing:
                if not create:
                    return None
                await entry.done.wait()
                continue
            return entry

    async def _run_session(self, entry: ActiveSession) -> None:
        try:
            await entry.run(self._rooms, self._syncs)
        finally:
            if self.sessions.get(entry.name) is entry:
                del self.sessions[entry.name]
            entry.done.set()

    # -- housekeeping ---------------------------------------------------------------------

    async def run_sweeper(self) -> None:
        """Hang up terminals nobody watched for a while; deactivate sessions left without any."""
        await housekeeping.sweep_forever(self.settings, self.sessions)

    async def reap_orphans(self) -> list[str]:
        """Remove this install's containers whose session has no workspace any more."""
        return await housekeeping.reap_orphans(self.settings, self.sandbox)

    async def delete_session(self, session: str) -> None:
        """The session is gone: hang up its terminals, remove its container and workspace."""
        entry = self.sessions.get(session)
        if entry is not None:
            await entry.close()
        await self._syncs.stop(session)  # nothing writes into the workspace while it is removed
        await self.sandbox.remove(session)  # a container of an earlier run too
        workspace = workspace_dir(self.settings, session)
        await self.sandbox.discard_workspace(workspace)
        await anyio.to_thread.run_sync(previous_shell.forget, self.settings, session)
        # rmtree never follows symlinks (it unlinks them), so a planted link cannot widen it.
        await anyio.to_thread.run_sync(partial(shutil.rmtree, workspace, ignore_errors=True))
        log.info("session %r: container and workspace removed", session)

    async def close(self) -> None:
        """Shutdown: hang up every terminal, flush file sync, stop every container this node ran
        (deactivated sessions' too: nothing keeps running unwatched between two runs)."""
        self._closed = True
        entries = list(self.sessions.values())
        async with anyio.create_task_group() as tg:
            for entry in entries:
                tg.start_soon(entry.close)
        await self.sandbox.stop_all()

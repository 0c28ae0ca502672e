"""`TerminalRegistry`: every live terminal of this node, keyed by (session, terminal name).

A session with terminals is *active*: its room is pinned (kept loaded), its container runs,
and its workspace is synced with the room's `files` map (by `WorkspaceSyncs`, which usually
started that when the room loaded). Each terminal is one `TerminalHub`
in a task of the registry's task group, plus a server-side subscription that mirrors the
hub's state into the doc's `terminals` map. A terminal nobody watches for
`terminal_detached_close_seconds` is hung up; a session left without terminals is
deactivated (sync flushed, room unpinned), so the container can idle-stop.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import aiodocker
import anyio
import anyio.abc

from backend.auth.types import Principal
from backend.errors import TerminalLimitError, TerminalNotFoundError
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.settings import Settings
from backend.terminals import doc_mirror
from backend.terminals import previous as previous_shell
from backend.terminals.paths import sandbox_instance, workspace_dir
from backend.terminals.workspace_syncs import WorkspaceSyncs
from sandbox import (
    ContainerNotFoundError,
    DockerSandbox,
    Pty,
    SandboxError,
    TerminalHub,
    TerminalSubscription,
)
from sandbox.container_config import LABEL_INSTANCE, LABEL_MANAGED, LABEL_SESSION, container_name
from sandbox.filesync import WorkspaceSync

log = logging.getLogger("tandem.terminals")

SERVER_ID = "tandem-server"  # the registry's own subscription to each hub (never types)
MAX_AUTHORS = 256  # principals remembered per session for attribution frames
SESSION_GRACE_SECONDS = 30.0


@dataclass(eq=False)
class Terminal:
    session: str
    name: str
    opened_by: dict[str, str]
    hub: TerminalHub | None = None
    error: BaseException | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    detached_since: float | None = None
    end_reason: str | None = None  # why it was hung up, when the registry did it

    @property
    def attached(self) -> int:
        """Clients attached to this terminal, of any role (most may type); the doc mirror is not one."""
        return 0 if self.hub is None else sum(1 for s in self.hub.subscribers if s.principal_id != SERVER_ID)


@dataclass(eq=False)
class ActiveSession:
    name: str
    room: Room | None = None
    sync: WorkspaceSync | None = None
    error: BaseException | None = None
    terminals: dict[str, Terminal] = field(default_factory=dict)
    authors: OrderedDict[str, dict[str, str]] = field(default_factory=OrderedDict)
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    closing: bool = False
    stale: set[str] = field(default_factory=set)  # terminals a killed server left in the doc
    empty_since: float = field(default_factory=anyio.current_time)


class TerminalRegistry:
    def __init__(
        self,
        settings: Settings,
        sandbox: DockerSandbox,
        rooms: RoomManager,
        task_group: anyio.abc.TaskGroup,
        syncs: WorkspaceSyncs,
    ) -> None:
        self.settings = settings
        self._syncs = syncs
        self.sandbox = sandbox
        self._rooms = rooms
        self._tg = task_group
        self._instance = sandbox_instance(settings)
        self.sessions: dict[str, ActiveSession] = {}
        self._closed = False

    # -- attach ---------------------------------------------------------------------------

    @asynccontextmanager
    async def attach(
        self, session: str, name: str, principal: Principal, *, can_start: bool, can_type: bool
    ) -> AsyncIterator[tuple[Terminal, TerminalSubscription]]:
        """Subscribe to a terminal, starting it (and the session's sandbox) when allowed.

        A role that may not start terminals only ever watches one that runs: it never activates
        a session (so never starts its container or touches its workspace)."""
        entry = await self._entry(session, create=can_start)
        if entry is None:
            raise TerminalNotFoundError(f"no terminal {name!r} runs in this session")
        entry.empty_since = anyio.current_time()  # the sweeper leaves a session being joined alone
        entry.authors[principal.id] = {"id": principal.id, "name": principal.name, "color": principal.color}
        entry.authors.move_to_end(principal.id)
        while len(entry.authors) > MAX_AUTHORS:
            entry.authors.popitem(last=False)
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
                entry = self.sessions[session] = ActiveSession(session)
                self._tg.start_soon(self._run_session, entry, name=f"session-sandbox:{session}")
            elif entry.closing:
                if not create:
                    return None
                await entry.done.wait()
                continue
            return entry

    async def _run_session(self, entry: ActiveSession) -> None:
        room: Room | None = None
        try:
            with entry.scope:
                room = await self._rooms.acquire(entry.name)
                room.pin()
                entry.room = room
                entry.stale = set(doc_mirror.clear_stale(room.doc))
                workspace = workspace_dir(self.settings, entry.name)
                await self.sandbox.ensure_container(entry.name, workspace)
                # Usually running since the room loaded; several nodes: started here, on the owner.
                entry.sync = await self._syncs.ensure(room)
                entry.ready.set()
                await anyio.sleep_forever()
        except Exception as exc:
            log.warning(
                "session %r: sandbox failed: %s", entry.name, exc, exc_info=not isinstance(exc, SandboxError)
            )
            entry.error = exc
        finally:
            entry.closing = True
            entry.ready.set()
            if room is not None:
                room.unpin()
            if self.sessions.get(entry.name) is entry:
                del self.sessions[entry.name]
            entry.done.set()

    async def _close_session(self, entry: ActiveSession) -> None:
        entry.closing = True
        for term in list(entry.terminals.values()):
            term.scope.cancel()
        for term in list(entry.terminals.values()):
            await term.done.wait()
        entry.scope.cancel()
        await entry.done.wait()

    # -- terminals ------------------------------------------------------------------------

    async def _start_pty(self, session: str, name: str, cols: int, rows: int) -> Pty:
        try:
            return await self.sandbox.start_pty(session, name, cols, rows)
        except ContainerNotFoundError:  # removed behind our back: recreate, then retry once
            await self.sandbox.ensure_container(session, workspace_dir(self.settings, session))
            return await self.sandbox.start_pty(session, name, cols, rows)

    async def _run_terminal(self, entry: ActiveSession, term: Terminal) -> None:
        s = self.settings
        hub_seen: TerminalHub | None = None
        try:
            with term.scope:
                await entry.ready.wait()
                if entry.error is not None or entry.room is None:
                    raise entry.error or SandboxError(f"session {entry.name!r} did not start")
                doc = entry.room.doc
                previous = await anyio.to_thread.run_sync(previous_shell.take, s, entry.name, term.name)
                if previous is None and term.name in entry.stale:
                    previous = previous_shell.PreviousShell(None, "server restart")
                entry.stale.discard(term.name)
                async with TerminalHub(
                    partial(self._start_pty, entry.name, term.name),
                    name=f"{entry.name}/{term.name}",
                    scrollback_bytes=s.terminal_scrollback_bytes,
                    subscriber_max_bytes=s.terminal_subscriber_queue_bytes,
                    flow_pause_bytes=s.terminal_flow_pause_bytes,
                    flow_pause_max=s.terminal_flow_pause_max_seconds,
                    max_subscribers=s.terminal_max_subscribers + 1,  # + the mirror
                    max_input_bytes=s.terminal_max_input_bytes,
                    preamble=previous.preamble() if previous is not None else b"",
                ) as hub:
                    term.hub = hub_seen = hub
                    async with hub.attach(SERVER_ID, can_write=False, wants_output=False) as mirror:
                        doc_mirror.open_terminal(doc, term.name, term.opened_by)
                        if previous is not None:
                            doc_mirror.set_previous(doc, term.name, previous.doc_fields())
                        term.detached_since = anyio.current_time()
                        term.ready.set()
                        async for event in mirror:
                            if not entry.room.closed:
                                doc_mirror.apply_event(doc, term.name, event)
        except Exception as exc:
            log.warning(
                "terminal %s/%s failed: %s",
                entry.name,
                term.name,
                exc,
                exc_info=not isinstance(exc, SandboxError),
            )
            term.error = exc
        finally:
            term.hub = None if term.error is not None else term.hub
            term.ready.set()
            if entry.terminals.get(term.name) is term:
                del entry.terminals[term.name]
                entry.empty_since = anyio.current_time()
            if entry.room is not None and not entry.room.closed:
                doc_mirror.remove_terminal(entry.room.doc, term.name)
            if hub_seen is not None:
                await self._remember_end(entry.name, term, hub_seen)
            term.done.set()

    async def _remember_end(self, session: str, term: Terminal, hub: TerminalHub) -> None:
        """Keep why and when this shell ended, and its scrollback, for the terminal's next shell."""
        if self._closed:
            reason = "server restart"
        elif term.error is not None:
            reason = f"the sandbox failed: {term.error}"[:200]
        else:
            reason = term.end_reason or "the terminal was closed"
        ended = previous_shell.PreviousShell(time.time(), reason, hub.scrollback())
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(previous_shell.save, self.settings, session, term.name, ended)

    # -- housekeeping ---------------------------------------------------------------------

    async def run_sweeper(self) -> None:
        """Hang up terminals nobody watched for a while; deactivate sessions left without any."""
        limit = self.settings.terminal_detached_close_seconds
        interval = max(0.2, min(30.0, limit / 4))
        while True:
            await anyio.sleep(interval)
            now = anyio.current_time()
            for entry in list(self.sessions.values()):
                for term in list(entry.terminals.values()):
                    if (
                        term.detached_since is not None
                        and term.attached == 0
                        and now - term.detached_since >= limit
                    ):
                        log.info(
                            "terminal %s/%s: nobody watching for %.0fs, hanging up",
                            entry.name,
                            term.name,
                            limit,
                        )
                        term.end_reason = f"nobody watched it for {limit / 60:.0f} min"
                        term.scope.cancel()
                        await term.done.wait()
                # A session without terminals for a short grace period is deactivated.
                idle = not entry.terminals and now - entry.empty_since >= min(limit, SESSION_GRACE_SECONDS)
                if entry.ready.is_set() and idle and not entry.closing:
                    await self._close_session(entry)
                    log.info("session %r: no terminals left, deactivated", entry.name)

    async def reap_orphans(self) -> list[str]:
        """Remove this install's containers whose session has no workspace any more."""
        labelled = await self._managed_sessions()
        known = [name for name in labelled if workspace_dir(self.settings, name).exists()]
        reaped = await self.sandbox.reap_orphans(known)
        if reaped:
            log.info("reaped %d orphan containers", len(reaped))
        return reaped

    async def _managed_sessions(self) -> set[str]:
        filters = {"label": [f"{LABEL_MANAGED}=1", f"{LABEL_INSTANCE}={self._instance}"]}
        containers = await self.sandbox.docker.containers.list(all=True, filters=json.dumps(filters))
        return {(c["Labels"] or {}).get(LABEL_SESSION, "") for c in containers}

    async def delete_session(self, session: str) -> None:
        """The session is gone: hang up its terminals, remove its container and workspace."""
        entry = self.sessions.get(session)
        if entry is not None:
            await self._close_session(entry)
        await self._syncs.stop(session)  # nothing writes into the workspace while it is removed
        await self.sandbox.remove(session)
        name = container_name(session, self._instance)
        try:
            container = await self.sandbox.docker.containers.get(name)
            await container.delete(force=True, v=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise SandboxError(f"cannot remove {name}: {exc}") from exc
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
                tg.start_soon(self._close_session, entry)
        # Every container this node ran, deactivated sessions' too (never left running).
        await self.sandbox.stop_all()

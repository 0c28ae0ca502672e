"""`ActiveSession`: a session whose terminals run on this node, and its table of `Terminal`s.

Active means three things held together: its room pinned (kept loaded), its container running,
and its workspace synced with the room's `files` map (by `WorkspaceSyncs`, which usually started
that when the room loaded). `run()` brings them up, sets `ready`, and holds them until `close()`
(which hangs up the terminals first); the room is let go at the end. The container keeps running
after that until the sandbox's idle stop. This is the only module of the terminals that touches
the room: its terminals reach the doc through `live_doc()`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from pycrdt import Doc

from backend.auth.types import Principal
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.terminals import doc_mirror
from backend.terminals.workspace_syncs import WorkspaceSyncs
from sandbox import ContainerNotFoundError, Pty, SandboxBackend, SandboxError, TerminalHub
from sandbox.filesync import WorkspaceSync

log = logging.getLogger("tandem.terminals")

MAX_AUTHORS = 256  # principals remembered per session for attribution frames


@dataclass(eq=False)
class Terminal:
    """One shared shell of an active session (run by `backend.terminals.terminal.run_terminal`)."""

    session: str
    name: str
    opened_by: dict[str, str]
    hub: TerminalHub | None = None
    error: BaseException | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    detached_since: float | None = None
    end_reason: str | None = None  # why it was hung up, when the server did it

    @property
    def attached(self) -> int:
        """Clients attached to this terminal, of any role (most may type)."""
        return 0 if self.hub is None else len(self.hub.subscribers)


@dataclass(eq=False)
class ActiveSession:
    name: str
    workspace: Path
    sandbox: SandboxBackend
    room: Room | None = None
    sync: WorkspaceSync | None = None
    error: BaseException | None = None
    terminals: dict[str, Terminal] = field(default_factory=dict)
    authors: OrderedDict[str, dict[str, str]] = field(default_factory=OrderedDict)
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)  # set by whoever runs `run()`
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    closing: bool = False
    stale: set[str] = field(default_factory=set)  # terminals a killed server left in the doc
    empty_since: float = field(default_factory=anyio.current_time)

    async def run(self, rooms: RoomManager, syncs: WorkspaceSyncs) -> None:
        """Hold the room, the container and the file sync until cancelled; `error` says why not."""
        room: Room | None = None
        try:
            with self.scope:
                room = await rooms.acquire(self.name)
                room.pin()
                self.room = room
                self.stale = set(doc_mirror.clear_stale(room.doc))
                await self.sandbox.ensure_container(self.name, self.workspace)
                # Usually running since the room loaded; several nodes: started here, on the owner.
                self.sync = await syncs.ensure(room)
                self.ready.set()
                await anyio.sleep_forever()
        except Exception as exc:
            log.warning(
                "session %r: sandbox failed: %s", self.name, exc, exc_info=not isinstance(exc, SandboxError)
            )
            self.error = exc
        finally:
            self.closing = True
            self.ready.set()
            if room is not None:
                room.unpin()

    async def close(self) -> None:
        """Hang up every terminal, then let go of the room (the container idles on)."""
        self.closing = True
        for term in list(self.terminals.values()):
            term.scope.cancel()
        for term in list(self.terminals.values()):
            await term.done.wait()
        self.scope.cancel()
        await self.done.wait()

    def live_doc(self) -> Doc | None:
        """The room's doc while the room is open (terminals mirror their state into it)."""
        room = self.room
        return room.doc if room is not None and not room.closed else None

    def remember(self, principal: Principal) -> None:
        """Who attached, for attribution frames (the most recent `MAX_AUTHORS`)."""
        self.authors[principal.id] = {"id": principal.id, "name": principal.name, "color": principal.color}
        self.authors.move_to_end(principal.id)
        while len(self.authors) > MAX_AUTHORS:
            self.authors.popitem(last=False)

    async def start_pty(self, terminal: str, cols: int, rows: int) -> Pty:
        """A new shell in the session's container (recreated once if removed behind our back)."""
        try:
            return await self.sandbox.start_pty(self.name, terminal, cols, rows)
        except ContainerNotFoundError:
            await self.sandbox.ensure_container(self.name, self.workspace)
            return await self.sandbox.start_pty(self.name, terminal, cols, rows)

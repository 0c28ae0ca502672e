"""`WorkspaceSyncs`: one `WorkspaceSync` per loaded room, from its load to its unload.

Why the room and not the sandbox owns the sync: a project put in `data/workspaces/<session>`
must be in the doc when the room opens (not when someone first opens a terminal), and the
first sync must happen before any page sees an empty room and writes its welcome file. So the
workspace is read into the doc while the room loads (no container is started), and watched
while the room stays loaded: a `git checkout` in a running terminal or a file an operator
copies in shows up either way. The room's unload stops the sync after a last flush.

A workspace with nothing to read — none yet, or an empty directory, and no quota image — cannot
add anything to the doc, so its room is served at once and the sync starts behind it: a new
session's first handshake never waits for the quota's mkfs and mount (the slow part of its
load), and a file put there meanwhile is read in by the sync's start like any other.

Several nodes (a shared bus): every node may load a room, but a session's workspace lives on
its owner node (backend.bus.leases), so there the sync starts with the session's sandbox
(`ensure`) instead of on every load.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio
import anyio.abc

from backend.rooms.origin import FILE_SYNC
from backend.rooms.room import Room
from backend.settings import Settings
from backend.terminals.availability import sandbox_spec
from backend.terminals.paths import workspace_dir
from sandbox import WorkspaceMounts, WorkspaceQuota
from sandbox.filesync import WorkspaceSync

log = logging.getLogger("tandem.filesync")


@dataclass(eq=False)
class _Running:
    sync: WorkspaceSync | None = None  # made once its base is read
    started: anyio.Event = field(default_factory=anyio.Event)  # initial sync done (or failed)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)


class WorkspaceSyncs:
    def __init__(
        self,
        settings: Settings,
        task_group: anyio.abc.TaskGroup,
        *,
        on_load: bool,
        mounts: WorkspaceMounts | None = None,
    ) -> None:
        self.settings = settings
        # With a disk quota the workspace is a mounted file system: the sync holds it mounted
        # for its whole run, so it always sees what the container sees (sandbox/mounts.py).
        self._mounts = mounts if mounts is not None else WorkspaceMounts(None)
        self._tg = task_group
        self._on_load = on_load and settings.filesync_on_room_load
        self._running: dict[str, _Running] = {}
        # New rooms' syncs start behind them, a few at a time: their start (base read, directory,
        # quota mount, watcher) is CPU and threads that a burst of new rooms' handshakes need first.
        self._fresh_starts = anyio.CapacityLimiter(settings.filesync_fresh_start_concurrency)
        spec = sandbox_spec(settings)
        # Files the sync creates belong to the sandbox user, so the terminal can edit them.
        self._owner = (spec.uid, spec.gid) if settings.sandbox != "off" and spec.chown_workspace else None

    @property
    def mounts(self) -> WorkspaceMounts:
        return self._mounts

    def get(self, session: str) -> WorkspaceSync | None:
        running = self._running.get(session)
        return running.sync if running is not None and running.started.is_set() else None

    async def room_loaded(self, room: Room) -> None:
        """RoomManager `after_load` hook: read the workspace into the doc, then keep watching
        (with nothing to read, the room need not wait for that: it starts behind the room)."""
        if not self._on_load:
            return
        workspace = workspace_dir(self.settings, room.name)
        # On the loop, not a worker thread: one stat and one directory read are microseconds, while
        # a thread hop waits behind every other room's store read when many rooms load at once.
        fresh = self._nothing_to_read(workspace)
        if fresh and room.name not in self._running:
            log.debug("workspace %s: nothing to read in, the room is served while its sync starts", workspace)
            self._start(room, behind=True)
            return
        await self.ensure(room)

    def _nothing_to_read(self, workspace: Path) -> bool:
        """No quota image (it holds the files when there is one) and no file in the directory."""
        if self._mounts.enabled and WorkspaceQuota.image_of(workspace).exists():
            return False
        try:
            with os.scandir(workspace) as entries:
                return next(entries, None) is None
        except FileNotFoundError:
            return True
        except OSError:
            return False  # whatever it is, the sync's start says (and waits for it)

    async def room_unloading(self, room: Room) -> None:
        """RoomManager `before_unload` hook: flush and stop."""
        await self.stop(room.name)

    async def ensure(self, room: Room) -> WorkspaceSync | None:
        """The room's running sync, started (initial sync done) if it was not; None if it failed."""
        running = self._running.get(room.name) or self._start(room)
        await running.started.wait()
        return running.sync if self._running.get(room.name) is running else None

    def _start(self, room: Room, *, behind: bool = False) -> _Running:
        running = self._running[room.name] = _Running()
        self._tg.start_soon(self._run, room, running, behind, name=f"filesync:{room.name}")
        return running

    def _make_sync(self, room: Room, base: dict[str, str]) -> WorkspaceSync:
        s = self.settings
        return WorkspaceSync(
            room.doc,
            workspace_dir(s, room.name),
            owner=self._owner,
            debounce=s.filesync_debounce_ms / 1000,
            max_file_bytes=s.filesync_max_file_bytes,
            max_files=s.filesync_max_files,
            max_total_bytes=s.workspace_max_bytes,
            max_doc_bytes=s.filesync_max_doc_bytes,
            max_watches=s.filesync_max_watches,
            origin=FILE_SYNC,
            base=base,
        )

    async def _run(self, room: Room, running: _Running, behind: bool = False) -> None:
        # A sync failure leaves the room and terminals working (the doc and the disk just drift).
        session = room.name
        sync: WorkspaceSync | None = None
        mounted = False
        throttled = False

        def started() -> None:  # the initial sync is done: the next new room's sync may start
            nonlocal throttled
            if throttled:
                throttled = False
                self._fresh_starts.release_on_behalf_of(running)

        try:
            with running.scope:
                if behind:
                    await self._fresh_starts.acquire_on_behalf_of(running)
                    throttled = True
                workspace = workspace_dir(self.settings, session)
                base = await anyio.to_thread.run_sync(_read_base, self._base_path(workspace))
                sync = running.sync = self._make_sync(room, base)
                await anyio.to_thread.run_sync(_make_dir, sync.root)
                await self._mounts.acquire(sync.root)
                mounted = True
                await sync.run(task_status=_EventStatus(running.started, started))
        except Exception:
            log.exception("session %r: workspace sync stopped", session)
        finally:
            started()
            with anyio.CancelScope(shield=True):
                if sync is not None:
                    await self._save_base(sync)
                    if mounted:
                        await self._mounts.release(sync.root)
            if self._running.get(session) is running:
                del self._running[session]
            running.started.set()
            running.done.set()

    async def stop(self, session: str) -> None:
        running = self._running.pop(session, None)
        if running is not None:
            running.scope.cancel()
            await running.done.wait()

    def _base_path(self, workspace: Path) -> Path:
        """Where a workspace's sync base lives: beside the workspaces, never inside one (the
        container can write there)."""
        return self.settings.data / "filesync-base" / f"{workspace.name}.json"

    async def _save_base(self, sync: WorkspaceSync) -> None:
        """What disk and doc agreed on, for the next load's first sync (which side changed)."""
        try:
            agreed = await anyio.to_thread.run_sync(sync.agreed)
            if agreed:
                await anyio.to_thread.run_sync(_write_base, self._base_path(sync.root), agreed)
        except OSError as exc:
            log.warning("workspace %s: sync base not saved: %s", sync.root, exc)

    async def forget_session(self, session: str) -> None:
        """Session deleted: stop its sync and remove its workspace (also with terminals off)."""
        await self.stop(session)
        workspace = workspace_dir(self.settings, session)
        await anyio.to_thread.run_sync(partial(self._base_path(workspace).unlink, missing_ok=True))
        # rmtree never follows symlinks (it unlinks them), so a planted link cannot widen it.
        await anyio.to_thread.run_sync(partial(shutil.rmtree, workspace, ignore_errors=True))


def _read_base(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("sync base %s unreadable, ignored: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _write_base(path: Path, agreed: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(agreed, separators=(",", ":")))
    os.replace(tmp, path)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o755)


class _EventStatus:
    """anyio's `TaskStatus` as an event: the sync reports "initial sync done" through it."""

    def __init__(self, event: anyio.Event, then: Callable[[], None] = lambda: None) -> None:
        self._event = event
        self._then = then

    def started(self, value: object = None) -> None:
        self._event.set()
        self._then()

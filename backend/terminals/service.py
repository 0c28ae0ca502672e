"""`TerminalService`: what the app holds for terminals — the sandbox status, and the registry
once terminals are on. Opened in the lifespan; `delete_session` is the hook for session deletion.

In `auto` mode terminals may come on later, in the running server: a background task waits for
the engine and the image (`bringup`), then opens the sandbox and the registry. `/term` asks
`status.enabled` on every connection, so open pages connect as soon as it turns true.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiodocker
import anyio
from anyio.abc import TaskGroup, TaskStatus

from backend.errors import SandboxOffError
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.terminals.availability import SandboxStatus, StatusBoard, sandbox_spec
from backend.terminals.bringup import SandboxBringUp
from backend.terminals.paths import sandbox_instance
from backend.terminals.registry import TerminalRegistry
from backend.terminals.workspace_syncs import WorkspaceSyncs
from sandbox import DockerSandbox, SandboxError

log = logging.getLogger("tandem.terminals")


class TerminalService:
    def __init__(self, settings: Settings, board: StatusBoard, syncs: WorkspaceSyncs) -> None:
        self.settings = settings
        self._syncs = syncs
        self._board = board
        self._bringup: SandboxBringUp | None = None
        self._registry: TerminalRegistry | None = None
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, rooms: RoomManager, syncs: WorkspaceSyncs
    ) -> AsyncIterator[TerminalService]:
        board = StatusBoard(settings)
        service = cls(settings, board, syncs)
        if settings.sandbox == "off":
            board.set("off", "terminals are off on this server (TANDEM_SANDBOX=off)")
            yield service
            return
        bringup = service._bringup = SandboxBringUp(settings, board)
        async with anyio.create_task_group() as tg:
            if settings.sandbox == "docker":
                await bringup.require()  # a start-up error that says what is missing
                await tg.start(service._run_registry, rooms)
            elif not await bringup.ready_now() or not await service._start_now(tg, rooms):
                tg.start_soon(service._bring_up, rooms, name="sandbox-bring-up")
            try:
                yield service
            finally:
                with anyio.CancelScope(shield=True):
                    await service.close()
                tg.cancel_scope.cancel()

    async def _start_now(self, tg: TaskGroup, rooms: RoomManager) -> bool:
        """Terminals on at start-up (engine and image are there); False: leave it to `_bring_up`."""
        try:
            await tg.start(self._run_registry, rooms)
        except (SandboxError, aiodocker.DockerError, OSError) as exc:
            log.warning("terminals could not be turned on: %s", exc)
            return False
        return True

    async def _bring_up(self, rooms: RoomManager) -> None:
        assert self._bringup is not None
        while not self._closed:
            await self._bringup.until_ready()
            try:
                await self._run_registry(rooms)
            except (SandboxError, aiodocker.DockerError, OSError) as exc:
                # The engine went away, or failed a call, between the probe and the switch-on.
                log.warning("terminals could not be turned on: %s; trying again", exc)
                await anyio.sleep(self.settings.sandbox_probe_interval_seconds)

    async def _run_registry(
        self, rooms: RoomManager, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the sandbox and the registry, turn terminals on, and hold them until cancelled."""
        settings = self.settings
        spec = sandbox_spec(settings)
        mounts = self._syncs.mounts
        if mounts.error is not None:
            # `loop` asked for and impossible here: terminals stay off, with the reason.
            self._board.set("failed", str(mounts.error)[:300])
            raise mounts.error
        sandbox = DockerSandbox(
            spec,
            mounts=mounts,
            instance=sandbox_instance(settings),
            idle_timeout=settings.sandbox_idle_stop_seconds,
            idle_check_interval=max(1.0, min(60.0, settings.sandbox_idle_stop_seconds / 4)),
            max_ptys_per_session=settings.terminals_per_session,
            engine_timeout=settings.sandbox_engine_timeout_seconds,
        )
        async with sandbox, anyio.create_task_group() as tg:
            registry = TerminalRegistry(settings, sandbox, rooms, tg, self._syncs)
            await registry.reap_orphans()
            tg.start_soon(registry.run_sweeper, name="terminal-sweeper")
            self._registry = registry
            self._board.set("ready")
            log.info("terminals are on: Docker sandbox with image %s", settings.sandbox_image)
            task_status.started()
            await anyio.sleep_forever()

    @property
    def status(self) -> SandboxStatus:
        return self._board.status

    def retry_build(self) -> bool:
        """Start the image build again (after a failure); False when there is nothing to build."""
        if self._bringup is None or self.status.phase not in ("failed", "image_missing"):
            return False
        self._bringup.retry()
        return True

    @property
    def registry(self) -> TerminalRegistry:
        """The live registry; raises `SandboxOffError` (with the reason) when terminals are off."""
        if self._registry is None:
            raise SandboxOffError(self.status.reason or "terminals are off")
        return self._registry

    def terminal_activity(self, session: str, since: float) -> tuple[int, list[dict[str, str]]]:
        """For history's attribution (`TerminalRegistry.terminal_activity`); nothing when off."""
        if self._registry is None:
            return 0, []
        return self._registry.terminal_activity(session, since)

    async def close(self) -> None:
        """Hang up every terminal and flush file sync; call before the rooms are closed."""
        if self._closed:
            return
        self._closed = True
        if self._registry is not None:
            await self._registry.close()

    async def delete_session(self, session: str) -> None:
        """Remove a deleted session's container and workspace (a no-op when terminals are off)."""
        if self._registry is not None:
            await self._registry.delete_session(session)

"""`TerminalService`: what the app holds for terminals — the sandbox status, and the registry
when terminals are on. Opened in the lifespan; `delete_session` is the hook for session deletion."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio

from backend.errors import SandboxOffError
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.terminals.availability import SandboxStatus, open_sandbox
from backend.terminals.registry import TerminalRegistry

log = logging.getLogger("tandem.terminals")


class TerminalService:
    def __init__(self, status: SandboxStatus, registry: TerminalRegistry | None) -> None:
        self.status = status
        self._registry = registry
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, rooms: RoomManager) -> AsyncIterator[TerminalService]:
        async with AsyncExitStack() as stack:
            sandbox, status = await open_sandbox(settings, stack)
            if sandbox is None:
                yield cls(status, None)
                return
            tg = await stack.enter_async_context(anyio.create_task_group())
            registry = TerminalRegistry(settings, sandbox, rooms, tg)
            await registry.reap_orphans()
            tg.start_soon(registry.run_sweeper, name="terminal-sweeper")
            service = cls(status, registry)
            try:
                yield service
            finally:
                with anyio.CancelScope(shield=True):
                    await service.close()
                tg.cancel_scope.cancel()

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
        if self._closed or self._registry is None:
            return
        self._closed = True
        await self._registry.close()

    async def delete_session(self, session: str) -> None:
        """Remove a deleted session's container and workspace (a no-op when terminals are off)."""
        if self._registry is not None:
            await self._registry.delete_session(session)

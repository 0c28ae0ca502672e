"""`WorkspaceMounts`: who needs a session's quota file system mounted, counted.

Two parties use a workspace directory: the room's file sync (from the room's load to its
unload, with or without a container) and the session's container (from its start to its stop).
Both must see the same file system — a sync running on the bare directory under a quota mount
would read and write files the container never sees, and its watcher would miss every change
made in the terminal. So each party `acquire`s the workspace for as long as it uses it: the
first acquire mounts the quota image, the last release unmounts it. One `WorkspaceMounts` per
node, shared by `WorkspaceSyncs` and `DockerSandbox`; without a quota it only counts.

The lock is per workspace: a mount (mkfs and mount, tens of milliseconds) of one room's
workspace never holds up the load of another room. The mount commands run on worker threads of
their own (`MOUNT_THREADS` at a time), never the shared pool's: a hundred new rooms' mounts must
not queue every other room's store read and file sync behind them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from .errors import QuotaError
from .quota import WorkspaceQuota

logger = logging.getLogger(__name__)

MOUNT_THREADS = 4


class WorkspaceMounts:
    def __init__(self, quota: WorkspaceQuota | None, error: QuotaError | None = None) -> None:
        self.quota = quota if quota is not None and quota.enabled else None
        # The quota was asked for (`loop`) and cannot be had here: terminals stay off with it.
        self.error = error
        self._users: Counter[Path] = Counter()
        self._locks: dict[Path, tuple[anyio.Lock, list[int]]] = {}  # workspace -> lock, waiters
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    @property
    def enabled(self) -> bool:
        return self.quota is not None

    async def acquire(self, workspace: Path) -> None:
        """Mount `workspace` (first user) and count one more user; raises `QuotaError`."""
        async with self._locked(workspace):
            if self.quota is not None and self._users[workspace] == 0:
                await self._run(self.quota.mount, workspace)
            self._users[workspace] += 1

    async def release(self, workspace: Path) -> None:
        """One user fewer; the last one unmounts (a busy mount stays, logged, and is reused)."""
        async with self._locked(workspace):
            if self._users[workspace] <= 0:
                return
            self._users[workspace] -= 1
            if self._users[workspace] == 0:
                del self._users[workspace]
                if self.quota is not None:
                    await self._run(self.quota.unmount, workspace)

    async def discard(self, workspace: Path) -> None:
        """The session is deleted (its container removed, its sync stopped): unmount, delete the image."""
        async with self._locked(workspace):
            self._users.pop(workspace, None)
            if self.quota is not None:
                await self._run(self.quota.discard, workspace)

    async def _run(self, fn: Callable[[Path], None], workspace: Path) -> None:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(MOUNT_THREADS)
        await anyio.to_thread.run_sync(fn, workspace, limiter=self._limiter)

    @asynccontextmanager
    async def _locked(self, workspace: Path) -> AsyncIterator[None]:
        """The workspace's own lock, forgotten when nobody holds or waits for it."""
        entry = self._locks.get(workspace)
        if entry is None:
            entry = self._locks[workspace] = (anyio.Lock(), [0])
        lock, waiters = entry
        waiters[0] += 1
        try:
            async with lock:
                yield
        finally:
            waiters[0] -= 1
            if waiters[0] == 0:
                del self._locks[workspace]

    def users(self, workspace: Path) -> int:
        return self._users[workspace]


def workspace_mounts(mode: str, size_bytes: int, uid: int, gid: int) -> WorkspaceMounts:
    """The node's mounts for the `workspace_quota` setting (`loop` impossible here: an error kept
    for the terminals to report, editing still works)."""
    try:
        return WorkspaceMounts(WorkspaceQuota(mode, size_bytes, uid, gid))  # type: ignore[arg-type]
    except QuotaError as exc:
        logger.warning("workspace quota unavailable: %s", exc)
        return WorkspaceMounts(None, error=exc)

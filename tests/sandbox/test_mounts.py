"""`WorkspaceMounts` counts users per workspace; one workspace's slow mount never holds up another."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from sandbox.mounts import WorkspaceMounts
from tests.support import eventually

pytestmark = pytest.mark.anyio


class _SlowQuota:
    """Records mounts; the mount of `blocked` waits until `release` is set (from the test)."""

    enabled = True

    def __init__(self, blocked: Path) -> None:
        self.blocked = blocked
        self.release = threading.Event()
        self.mounted: list[Path] = []
        self.unmounted: list[Path] = []

    def mount(self, workspace: Path) -> None:
        if workspace == self.blocked:
            self.release.wait(30)
        self.mounted.append(workspace)

    def unmount(self, workspace: Path) -> None:
        self.unmounted.append(workspace)


async def test_a_slow_mount_does_not_hold_up_another_workspace(tmp_path: Path) -> None:
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    quota = _SlowQuota(slow)
    mounts = WorkspaceMounts(quota)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(mounts.acquire, slow)
        await eventually(lambda: mounts._locks.get(slow) is not None)
        await mounts.acquire(fast)  # while the slow one is still mounting
        assert quota.mounted == [fast]
        tg.start_soon(mounts.acquire, slow)  # a second user of the slow one waits for its mount
        quota.release.set()
    assert quota.mounted == [fast, slow] and mounts.users(slow) == 2
    await mounts.release(slow)
    assert quota.unmounted == []
    await mounts.release(slow)
    await mounts.release(fast)
    assert sorted(quota.unmounted) == sorted([slow, fast])
    assert mounts._locks == {}  # nothing kept per workspace once unused

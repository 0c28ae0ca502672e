"""A server shutting down mid-build (debootstrap takes minutes) must not wait for the build: the
cancelled build stops its subprocess, whole process group, instead of leaving the worker thread
reading it to the end."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import anyio
import pytest

from sandbox import images
from sandbox.rootfs import _run_streaming

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie that nobody reaped yet is gone for our purpose.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_a_cancelled_build_stops_its_subprocess_and_its_children(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pids: list[int] = []
    finished = tmp_path / "finished"  # written only by a build that ran to its end
    started = threading.Event()

    def make_rootfs(work: Path, report: images.Progress) -> Path:
        def seen(_fraction: float, line: str) -> None:
            if line.startswith("pids"):
                pids.extend(int(p) for p in line.split()[1:])
                started.set()

        # A shell standing for debootstrap, with a child of its own standing for dpkg.
        script = f"(sleep 30; touch {finished}) & echo pids $$ $!; wait"
        _run_streaming(["sh", "-c", script], dict(os.environ), seen)
        return work / "never.tar"

    class _Engine:
        async def close(self) -> None:
            pass

    async def connect(_url: str | None) -> _Engine:
        return _Engine()

    monkeypatch.setattr(images, "connect_engine", connect)
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            images._build, "tandem-never:latest", "test", False, make_rootfs, 1000, 1000, images._quiet
        )
        with anyio.fail_after(30):
            while not started.is_set():
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()
    # The task group returned without the build having run to its end (unfixed, it waits 30 s).
    assert not finished.exists()
    assert len(pids) == 2
    with anyio.fail_after(30):
        while any(_alive(pid) for pid in pids):
            await anyio.sleep(0.05)

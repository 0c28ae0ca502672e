"""Workspace quota benchmark: what the loop-mounted ext4 image per session costs at container
start and stop, next to a plain workspace directory, and the write throughput inside it.

    python bench/quota_bench.py [--image tandem-sandbox-test:latest] [--rounds 5] [--quota-mb 1024]

Needs root and a Docker engine with the image. Bounded: `rounds` sessions per mode, each
created, stopped and started again, written 256 MiB (then synced) and stopped, then removed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import anyio

from sandbox import TEST_IMAGE, DockerSandbox, SandboxSpec, WorkspaceQuota


async def measure(image: str, rounds: int, quota_mb: int, mode: str) -> dict[str, float]:
    spec = SandboxSpec(image=image)
    quota = WorkspaceQuota("loop", quota_mb << 20, spec.uid, spec.gid) if mode == "quota" else None
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    first, restart, stop, write, dirty_stop = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        async with DockerSandbox(spec, instance=instance, idle_timeout=None, quota=quota) as sandbox:
            try:
                for i in range(rounds):
                    session, workspace = f"bench-{i}", Path(tmp) / "workspaces" / f"s{i}"
                    t0 = time.perf_counter()
                    await sandbox.ensure_container(session, workspace)
                    first.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    await sandbox.stop(session)
                    stop.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    await sandbox.ensure_container(session, workspace)
                    restart.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    argv = ["sh", "-c", "dd if=/dev/zero of=f bs=1M count=256 && sync"]
                    result = await sandbox.run(session, argv)
                    write.append(time.perf_counter() - t0)
                    assert result.exit_code == 0, result
                    t0 = time.perf_counter()
                    await sandbox.stop(session)
                    dirty_stop.append(time.perf_counter() - t0)
            finally:
                for i in range(rounds):
                    await sandbox.remove(f"bench-{i}")
                    await sandbox.discard_workspace(Path(tmp) / "workspaces" / f"s{i}")
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    return {
        "first_start_ms": ms(first),
        "stop_ms": ms(stop),
        "restart_ms": ms(restart),
        "write_256MiB_and_sync_ms": ms(write),
        "stop_after_write_ms": ms(dirty_stop),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default=TEST_IMAGE)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quota-mb", type=int, default=1024)
    args = parser.parse_args()
    for mode in ("plain", "quota"):
        print(mode, await measure(args.image, args.rounds, args.quota_mb, mode), flush=True)


if __name__ == "__main__":
    anyio.run(main)

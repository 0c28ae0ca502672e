"""Fixtures for the sandbox suite.

Docker tests need a real engine and the busybox test image. A missing engine is a
failure, not a skip (CI runs everything): run `scripts/ensure-docker.sh` first.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import anyio
import pytest

from sandbox import TEST_IMAGE, DockerSandbox, SandboxSpec
from sandbox.images import build_test_image_async, image_exists

MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiodocker is built on aiohttp, i.e. asyncio


async def _check_engine_and_image() -> None:
    async with aiodocker.Docker() as docker:
        try:
            await docker.version()
        except Exception as exc:
            pytest.fail(f"no Docker engine answers ({exc}); run scripts/ensure-docker.sh", pytrace=False)
        if not await image_exists(docker, TEST_IMAGE):
            await build_test_image_async(TEST_IMAGE)


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Assert the engine answers and the test image exists (building it if needed)."""
    anyio.run(_check_engine_and_image)


@pytest.fixture
def test_spec() -> SandboxSpec:
    # Small limits so hardening tests hit them fast on a 2-core machine.
    return SandboxSpec(
        image=TEST_IMAGE,
        memory_bytes=64 * MiB,
        pids_limit=64,
        nano_cpus=500_000_000,
        tmp_bytes=16 * MiB,
        home_bytes=16 * MiB,
    )


@pytest.fixture
async def sandbox(docker_ready: None, test_spec: SandboxSpec) -> AsyncIterator[DockerSandbox]:
    # A unique instance label per test: teardown reaps exactly this test's containers.
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    async with DockerSandbox(test_spec, instance=instance, idle_timeout=None) as sb:
        try:
            yield sb
        finally:
            with anyio.CancelScope(shield=True):
                await sb.reap_orphans(())


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws

"""A `/term` WebSocket client for tests and the benchmark, and the Docker fixtures' plumbing.

Terminal tests need a real Docker engine and the busybox test image: a missing engine is a
failure, not a skip (CI installs and starts it; `scripts/ensure-docker.sh` does it locally).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiodocker
import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from sandbox import TEST_IMAGE
from sandbox.images import build_test_image_async, image_exists
from tests.support import TandemServer


class TermClient:
    """Collects output bytes and control messages of one `/term` connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.output = bytearray()
        self.controls: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason = ""

    async def send_input(self, data: bytes | str) -> None:
        await self.ws.send(data.encode() if isinstance(data, str) else data)

    async def send_control(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def _receive_one(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            message = await self.ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            self.close_code = rcvd.code if rcvd is not None else 1006
            self.close_reason = rcvd.reason if rcvd is not None else ""
            raise
        if isinstance(message, bytes):
            self.output += message
        else:
            self.controls.append(json.loads(message))

    async def read_until(self, needle: bytes, within: float = 15.0, start: int = 0) -> bytes:
        """Receive until `needle` is in the output from offset `start`; return the output."""
        with anyio.fail_after(within):
            while self.output.find(needle, start) < 0:
                # Search only what is new (plus a needle's overlap): linear on large outputs.
                start = max(start, len(self.output) - len(needle) + 1)
                await self._receive_one()
        return bytes(self.output)

    async def control_until(self, predicate: Any, within: float = 15.0) -> dict[str, Any]:
        """The first control message (already received or coming) that satisfies `predicate`."""
        seen = 0
        with anyio.fail_after(within):
            while True:
                for message in self.controls[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.controls)
                await self._receive_one()

    async def closed(self, within: float = 15.0) -> tuple[int, str]:
        from websockets.exceptions import ConnectionClosed

        with anyio.fail_after(within):
            try:
                while True:
                    await self._receive_one()
            except ConnectionClosed:
                pass
        assert self.close_code is not None
        return self.close_code, self.close_reason

    async def run(self, command: str, marker: str, within: float = 15.0) -> bytes:
        """Type `command`, then wait for `marker` on a line of its own output."""
        start = len(self.output)
        await self.send_input(command + "\n")
        await self.read_until(marker.encode(), within, start)
        return bytes(self.output[start:])


def term_url(server: TandemServer, session: str, terminal: str = "main") -> str:
    return f"ws://127.0.0.1:{server.port}/term/{quote(session, safe='')}/{quote(terminal, safe='')}"


@asynccontextmanager
async def term_client(url: str, **kwargs: Any) -> AsyncIterator[TermClient]:
    async with connect(url, max_size=None, **kwargs) as ws:
        yield TermClient(ws)


def new_session() -> str:
    return f"term-{uuid.uuid4().hex[:8]}"


async def ensure_engine_and_image() -> None:
    async with aiodocker.Docker() as docker:
        try:
            await docker.version()
        except Exception as exc:
            pytest.fail(f"no Docker engine answers ({exc}); run scripts/ensure-docker.sh", pytrace=False)
        if not await image_exists(docker, TEST_IMAGE):
            await build_test_image_async(TEST_IMAGE)


async def remove_containers(instance: str) -> None:
    async with aiodocker.Docker() as docker:
        filters = json.dumps({"label": [f"tandem.instance={instance}"]})
        for container in await docker.containers.list(all=True, filters=filters):
            await container.delete(force=True)


def sandbox_env(instance: str, mode: str = "docker") -> dict[str, str]:
    return {
        "TANDEM_SANDBOX": mode,
        "TANDEM_SANDBOX_IMAGE": TEST_IMAGE,
        "TANDEM_SANDBOX_INSTANCE": instance,
        "TANDEM_SANDBOX_MEMORY_MB": "128",
        "TANDEM_SANDBOX_PIDS_LIMIT": "128",
        "TANDEM_FILESYNC_DEBOUNCE_MS": "20",
    }


@contextmanager
def sandbox_server(data: Path, mode: str = "docker", **env: str) -> Iterator[TandemServer]:
    """A real `tandem serve --no-auth` with Docker terminals on the busybox test image."""
    anyio.run(ensure_engine_and_image)
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    server = TandemServer(data, None, env={**sandbox_env(instance, mode), **env}).start()
    try:
        yield server
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()
        anyio.run(remove_containers, instance)
        unmount_under(data)


def live_server_data_dirs() -> list[str]:
    """The `--data` directories of every `tandem serve` running on this machine (another pytest
    session's servers included): their mounts are in use, never left behind."""
    dirs = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended meanwhile
        if b"serve" in args and b"--data" in args[:-1]:
            dirs.append(str(Path(os.fsdecode(args[args.index(b"--data") + 1])).resolve()))
    return dirs


def unmount_under(path: Path) -> None:
    """Unmount workspace quota images a killed server left mounted under `path` (a test's data),
    never those of a server still running (a concurrent pytest session's: unmounting them would
    pull its workspaces from under its live rooms)."""
    root = str(path.resolve())
    live = live_server_data_dirs()
    with open("/proc/self/mounts") as mounts:
        targets = [line.split()[1].replace("\\040", " ") for line in mounts]
    for target in reversed(targets):
        if not (target == root or target.startswith(root + "/")):
            continue
        if any(target == d or target.startswith(d + "/") for d in live):
            continue
        subprocess.run(["umount", target], check=False, capture_output=True, timeout=60)


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).json()

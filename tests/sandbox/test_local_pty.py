"""The real-PTY floor: LocalPty alone and under a TerminalHub (no Docker)."""

from __future__ import annotations

import anyio
import pytest

from sandbox import Exited, LocalPty, TerminalHub

from .helpers import next_event_of, read_until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SHELL_ENV = {"PATH": "/usr/bin:/bin", "PS1": "$ ", "HOME": "/tmp"}


async def spawn(cols: int, rows: int) -> LocalPty:
    return await LocalPty.spawn(["/bin/sh"], cols=cols, rows=rows, env=SHELL_ENV)


async def read_pty_until(pty: LocalPty, needle: bytes) -> bytes:
    seen = bytearray()
    with anyio.fail_after(10):
        while needle not in seen:
            chunk = await pty.read()
            assert chunk, f"EOF before {needle!r}; got {bytes(seen)!r}"
            seen += chunk
    return bytes(seen)


async def test_echo_resize_and_exit_status() -> None:
    pty = await spawn(100, 30)
    try:
        await pty.write(b"echo hi-$((1+1)); stty size\n")
        await read_pty_until(pty, b"30 100")
        await pty.resize(120, 40)
        await pty.write(b"stty size; exit 5\n")
        await read_pty_until(pty, b"40 120")
        with anyio.fail_after(10):
            assert await pty.wait() == 5
    finally:
        await pty.aclose()


async def test_close_hangs_up_the_shell() -> None:
    pty = await spawn(80, 24)
    await pty.write(b"echo ready\n")
    await read_pty_until(pty, b"ready\r\n")
    await pty.aclose()
    with anyio.fail_after(10):
        assert await pty.wait() == 128 + 1  # SIGHUP


async def test_hub_over_a_real_pty() -> None:
    async with TerminalHub(spawn) as hub:
        async with (
            hub.attach("a", can_write=True, cols=90, rows=20) as a,
            hub.attach("v", can_write=False) as v,
        ):
            await a.write(b"stty size; echo out-$((6*7))\n")
            assert b"20 90" in await read_until(v, b"out-42")
            await read_until(a, b"out-42")
            await a.write(b"exit 2\n")
            assert await next_event_of(v, Exited) == Exited(2)

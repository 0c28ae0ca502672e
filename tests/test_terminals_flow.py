"""Terminal output is lossless for clients that keep up (real server, real Docker, busybox).

Clients reading as fast as they can get every byte of a large output, checked line by line,
while another client's reads are paused; the paused one then gets a one-line skip mark and
the live tail, never a screen reset, and it never held the others back.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.asyncio.client import connect

from tests.support import TandemServer
from tests.termclient import TermClient, new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(240)]

LINES = 1_500_000  # `seq` output: 11.9 MB through the PTY (\n becomes \r\n)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    # A small per-client backlog, so the paused client overflows well within the output's size.
    env = {"TANDEM_TERMINAL_SUBSCRIBER_QUEUE_BYTES": str(1024 * 1024)}
    with sandbox_server(tmp_path_factory.mktemp("term-flow"), **env) as server:
        yield server


@asynccontextmanager
async def paused_client(srv: TandemServer, url: str) -> AsyncIterator[TermClient]:
    """A client whose small receive buffer fills as soon as it stops reading (no autotuning)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", srv.port))
    sock.setblocking(False)
    async with connect(url, sock=sock, max_size=None, max_queue=1) as ws:
        yield TermClient(ws)


def expected_output() -> bytes:
    return b"".join(b"%d\r\n" % i for i in range(1, LINES + 1))


async def test_clients_that_keep_up_get_every_byte_and_a_paused_one_gets_a_skip_mark(
    srv: TandemServer,
) -> None:
    url = term_url(srv, new_session())
    async with (
        term_client(url) as fast,
        term_client(url) as other_fast,
        paused_client(srv, url) as paused,
    ):
        await fast.read_until(b"$ ")
        await other_fast.read_until(b"$ ")
        await paused.read_until(b"$ ")
        # From here on `paused` is not read until both fast clients have everything.
        # `BE''GIN` echoes as typed but prints `BEGIN`: the markers delimit the output exactly.
        await fast.send_input(f"echo BE''GIN; seq 1 {LINES}; echo EN''D-$((40+2))\n")

        async def drain(client: TermClient) -> bytes:
            out = await client.read_until(b"END-42\r\n", within=180)
            start = out.index(b"BEGIN\r\n") + len(b"BEGIN\r\n")
            return out[start : out.index(b"END-42\r\n")]

        results: dict[str, bytes] = {}

        async def take(name: str, client: TermClient) -> None:
            results[name] = await drain(client)

        async with anyio.create_task_group() as tg:
            tg.start_soon(take, "fast", fast)
            tg.start_soon(take, "other", other_fast)
        want = expected_output()
        for name in ("fast", "other"):
            got = results[name]
            assert len(got) == len(want), f"{name}: {len(got)} bytes of {len(want)}"
            assert got == want, f"{name}: output differs"
        assert not any(
            m["type"] in ("skipped", "resync") and m.get("reason") != "join" for m in fast.controls
        )

        await fast.send_input("echo live-$((6*7))\n")
        await fast.read_until(b"live-42\r\n", within=15)
        # Now the paused client reads: it fell behind, so it gets a `skipped` notice, a dim
        # one-line mark in the output and then the newest output — without a screen reset.
        skipped = await paused.control_until(lambda m: m["type"] == "skipped", within=60)
        assert skipped["bytes"] > 0 and skipped["status"] == "running"
        out = await paused.read_until(b"live-42\r\n", within=60)
        mark = out.index(b"of output skipped \xe2\x80\x94 you fell behind]")
        assert out.rfind(b"\x1b[2m[\xe2\x80\xa6 ", 0, mark) >= 0  # dim, starts with an ellipsis
        assert mark < out.index(b"live-42\r\n")
        assert not any(m["type"] == "resync" and m["reason"] != "join" for m in paused.controls)

"""Shared terminals through a real server: fan-out, scrollback, resize, back-pressure, attribution,
the doc's `terminals` map, and bad input. Real Docker, busybox test image (a missing engine fails)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pycrdt import Map

from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import get_json, new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with sandbox_server(tmp_path_factory.mktemp("term-data")) as server:
        yield server


async def test_two_subscribers_see_the_same_output_and_a_late_joiner_gets_scrollback(
    srv: TandemServer,
) -> None:
    url = term_url(srv, new_session())
    async with term_client(url) as a, term_client(url) as b:
        await a.control_until(lambda m: m["type"] == "resync" and m["reason"] == "join")
        await a.read_until(b"$ ")
        await a.send_input("echo hi\n")
        # `\nhi\r\n` is the command's output line, not the echo of `echo hi`.
        await a.read_until(b"\nhi\r\n")
        await b.read_until(b"\nhi\r\n")
        async with term_client(url) as late:
            resync = await late.control_until(lambda m: m["type"] == "resync")
            assert resync["reason"] == "join" and resync["status"] == "running"
            await late.read_until(b"\nhi\r\n", within=5)


async def test_resize_follows_the_smallest_typist(srv: TandemServer) -> None:
    url = term_url(srv, new_session())
    async with term_client(url) as a, term_client(url) as b:
        await a.read_until(b"$ ")
        await a.send_control({"type": "resize", "cols": 100, "rows": 30})
        await b.send_control({"type": "resize", "cols": 90, "rows": 40})
        await a.control_until(lambda m: m["type"] == "status" and (m.get("cols"), m.get("rows")) == (90, 30))
        await b.control_until(lambda m: m["type"] == "status" and (m.get("cols"), m.get("rows")) == (90, 30))
        out = await a.run("stty size; echo size-$((1+1))", "size-2\r\n")
        assert "30 90" in out.decode()
    # b leaves: the PTY grows back to a's viewport.
    async with term_client(url) as a:
        await a.send_control({"type": "resize", "cols": 120, "rows": 50})
        await a.control_until(lambda m: m["type"] == "status" and (m.get("cols"), m.get("rows")) == (120, 50))


async def test_a_stalled_subscriber_does_not_delay_the_other(srv: TandemServer) -> None:
    url = term_url(srv, new_session())
    # max_queue=1: the stalled client's library stops reading the socket after one message,
    # so its TCP window fills and the server's sends to it block.
    async with term_client(url) as fast, term_client(url, max_queue=1) as stalled:
        await fast.read_until(b"$ ")
        await fast.send_input(
            "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 40000000; echo flood-$((2+2))\n"
        )
        # The whole flood reaches the fast client while the other never reads: a stalled
        # subscriber would block the PTY reader, and these deadlines would pass unmet.
        await fast.read_until(b"flood-4", within=60)
        await fast.send_input("echo ping-$((3+4))\n")
        await fast.read_until(b"ping-7", within=5)
        # Once it reads again, the stalled client skips ahead to the scrollback's tail.
        skipped = await stalled.control_until(lambda m: m["type"] == "skipped", within=30)
        assert skipped["status"] == "running"
        await stalled.read_until(b"ping-7", within=30)


async def test_input_is_attributed_to_each_author(srv: TandemServer) -> None:
    url = term_url(srv, new_session())
    async with term_client(url) as a, term_client(url) as b:
        await a.read_until(b"$ ")
        await a.send_input("echo from-a\n")
        first = await a.control_until(lambda m: m["type"] == "attribution")
        await b.control_until(lambda m: m["type"] == "attribution" and m["author"] == first["author"])
        await b.send_input("echo from-bee\n")
        second = await b.control_until(
            lambda m: m["type"] == "attribution" and m["author"] != first["author"]
        )
        await a.control_until(lambda m: m["type"] == "attribution" and m["author"] == second["author"])
        assert first["nbytes"] == len("echo from-a\n") and second["nbytes"] == len("echo from-bee\n")
        # --no-auth: one principal per connection, each with a name and color for the page.
        assert first["author"]["id"] != second["author"]["id"]
        assert first["author"]["name"] and second["author"]["color"]


async def test_both_xterms_answer_the_prompts_cursor_query_the_shell_hears_one(srv: TandemServer) -> None:
    url = term_url(srv, new_session())
    async with term_client(url) as a, term_client(url) as b:
        await a.read_until(b"$ ")
        # busybox ash asks for the cursor position with each prompt; every xterm answers.
        await a.send_input(b"\x1b[24;1R")
        await b.send_input(b"\x1b[24;1R")
        start = len(b.output)
        await b.send_input("echo typed-$((20+1))\n")
        out = await b.read_until(b"typed-21\r\n", start=start)
        assert b"24;1R" not in out[start:]  # the second answer never reached the command line
        attribution = await a.control_until(lambda m: m["type"] == "attribution")
        # An answer is not typing: the first attribution is b's command, not a's reply.
        assert attribution["nbytes"] == len("echo typed-$((20+1))\n")


async def test_terminals_map_lists_status_size_and_exit(srv: TandemServer) -> None:
    session = new_session()
    url = term_url(srv, session, "build")
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        terminals = doc.get("terminals", type=Map)
        async with term_client(url) as a:
            await a.read_until(b"$ ")
            await a.send_control({"type": "resize", "cols": 77, "rows": 21})

            def entry() -> dict:
                value = terminals.get("build")
                return value.to_py() if isinstance(value, Map) else {}

            await wait_for(lambda: entry().get("status") == "running" and entry().get("cols") == 77)
            assert entry()["rows"] == 21 and entry()["opened_by"]["id"].startswith("anon-")
            await a.send_input("exit 3\n")
            exit_msg = await a.control_until(lambda m: m["type"] == "exit")
            assert exit_msg["code"] == 3
            await wait_for(lambda: entry().get("status") == "exited" and entry().get("exit_code") == 3)
            # Restart on demand: a new shell in the same terminal.
            await a.send_control({"type": "restart"})
            await a.control_until(lambda m: m["type"] == "status" and m.get("status") == "running")
            await wait_for(lambda: entry().get("status") == "running" and entry().get("exit_code") is None)
            await a.run("echo again-$((5+5))", "again-10")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/term/ok/bad$name", 4400),
        ("/term/a/b/c", 4400),
        ("/term/onlysession", 4400),
        ("/term/%2E%2E/main", 4400),
    ],
)
async def test_bad_paths_close_with_4400(srv: TandemServer, path: str, code: int) -> None:
    async with term_client(f"ws://127.0.0.1:{srv.port}{path}") as c:
        assert (await c.closed())[0] == code


async def test_bad_frames_close_with_named_codes(srv: TandemServer) -> None:
    url = term_url(srv, new_session())
    async with term_client(url) as c:
        await c.read_until(b"$ ")
        await c.ws.send('{"type": "resize", "cols": 0, "rows": 5}')
        code, reason = await c.closed()
        assert code == 4400 and "control message" in reason
    async with term_client(url) as c:
        await c.ws.send("not json")
        assert (await c.closed())[0] == 4400
    async with term_client(url) as c:
        await c.ws.send(b"x" * (64 * 1024 + 1))
        assert (await c.closed())[0] == 1009


async def test_sandbox_status_endpoint(srv: TandemServer) -> None:
    body = await get_json(srv.http_url + "/api/sandbox")
    assert body["enabled"] is True and body["mode"] == "docker"
    assert re.match(r"tandem-sandbox-test", body["image"])

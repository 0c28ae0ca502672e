"""A replaced shell says so: after a server restart the terminal's next shell starts with the old
scrollback and one line naming when and why the previous shell ended, and its doc entry carries
`previous` for the panel. A shell that exited and is restarted is marked the same way."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from pycrdt import Map

from tests.pyclient import pycrdt_client
from tests.support import TandemServer, eventually
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = pytest.mark.docker


def test_after_a_server_restart_the_new_shell_says_so_below_the_old_scrollback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    session = new_session()
    with sandbox_server(data) as first:
        anyio.run(_type_before, first, session)
    # The first server stopped gracefully (SIGTERM): its terminals' ends were recorded.
    with sandbox_server(data) as second:
        anyio.run(_check_after, second, session)


async def _type_before(server: TandemServer, session: str) -> None:
    async with term_client(term_url(server, session)) as c:
        await c.read_until(b"$ ")
        await c.run("echo before-$((20+22))", "before-42\r\n")


async def _check_after(second: TandemServer, session: str) -> None:
    if True:
        async with term_client(term_url(second, session)) as c:
            try:
                out = await c.read_until(b"this is a new shell", within=30)
            except TimeoutError:
                raise AssertionError(bytes(c.output)[-2000:]) from None
            assert out.index(b"before-42") < out.index(b"server restart; this is a new shell")
            await c.run("echo after-$((6*7))", "after-42\r\n")
            async with pycrdt_client(second.ws_url, session) as (doc, _provider):
                terminals = doc.get("terminals", type=Map)

                def previous() -> object:
                    entry = terminals.get("main")
                    return entry.get("previous") if isinstance(entry, Map) else None

                await eventually(lambda: previous() is not None, 15, what="previous in the doc")
                marked = previous()
                assert isinstance(marked, dict) and marked["reason"] == "server restart"
                assert isinstance(marked["ended_at"], float)


def test_a_restarted_shell_is_marked_in_the_doc(tmp_path: Path) -> None:
    with sandbox_server(tmp_path / "data") as srv:
        anyio.run(_exit_and_restart, srv, new_session())


async def _exit_and_restart(srv: TandemServer, session: str) -> None:
    if True:
        async with term_client(term_url(srv, session)) as c, pycrdt_client(srv.ws_url, session) as (doc, _p):
            await c.read_until(b"$ ")
            await c.send_input("exit 3\n")
            await c.control_until(lambda m: m["type"] == "exit")
            await c.send_control({"type": "restart"})
            terminals = doc.get("terminals", type=Map)

            def previous() -> object:
                entry = terminals.get("main")
                return entry.get("previous") if isinstance(entry, Map) else None

            await eventually(lambda: previous() is not None, 15, what="previous in the doc")
            marked = previous()
            assert isinstance(marked, dict) and marked["reason"] == "the shell exited (code 3)"

"""An abandoned room with only idle terminals unloads in minutes (here: seconds, by setting),
while a room whose terminal someone watches stays. Real server, real Docker (busybox)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "2", "TANDEM_ROOM_IDLE_UNLOAD_SECONDS": "0.5"}
    with sandbox_server(tmp_path_factory.mktemp("term-idle"), **env) as server:
        yield server


def rooms_loaded(srv: TandemServer) -> int:
    for line in httpx.get(srv.http_url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("tandem_rooms_loaded "):
            return int(float(line.split()[1]))
    raise AssertionError("no tandem_rooms_loaded metric")


async def test_a_room_left_with_an_idle_terminal_unloads_and_a_watched_one_stays(srv: TandemServer) -> None:
    watched, left = term_url(srv, new_session()), term_url(srv, new_session())
    async with term_client(watched) as viewer:
        await viewer.run("echo watched-$((1+1))", "watched-2")
        async with term_client(left) as leaver:
            await leaver.run("echo left-$((2+2))", "left-4")
        assert rooms_loaded(srv) == 2
        # Nobody watches the second terminal: it is hung up after the setting's 2 s, its
        # session after the grace, and its room unloads; the watched room stays loaded.
        await wait_for(
            lambda: rooms_loaded(srv) == 1, timeout=90, interval=0.2, what="the left room to unload"
        )
        out = await viewer.run("echo still-$((3+3))", "still-6")
        assert b"still-6" in out
    async with term_client(left) as back:  # coming back starts a new shell, and says so
        resync = await back.control_until(lambda m: m["type"] == "resync")
        assert resync["reason"] == "join"
        await back.read_until(b"this is a new shell")
        # The old shell's output is kept above the line (the replaced-shell notice); the shell
        # itself is new: its history starts after the notice.
        notice = back.output.index(b"this is a new shell")
        assert b"nobody watched it" in back.output[notice - 200 : notice]
        out = await back.run("echo fresh-$((2+3))", "fresh-5")
        assert b"fresh-5" in out

"""A new session's room (#15 item 3): its workspace has nothing to read, so the room is served
without waiting for the file sync's start (the quota's mkfs and mount); the sync then starts
behind it and loses nothing. A workspace with something in it is read in before the first sync,
as ever (tests/test_real_project.py). Real server, real quota mount (root), real Docker."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from pycrdt import Map, Text

from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from tests.pyclient import pycrdt_client
from tests.support import TandemServer, eventually
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root (CI runs as root)"),
]

SERVED_FIRST = "nothing to read in, the room is served while its sync starts"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {
        "TANDEM_WORKSPACE_QUOTA": "loop",
        "TANDEM_WORKSPACE_MAX_BYTES": str(64 * 1024 * 1024),
        "TANDEM_ROOM_IDLE_UNLOAD_SECONDS": "0.5",
        "TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "1",  # so the session lets go of its room soon
        "TANDEM_LOG_LEVEL": "debug",
    }
    with sandbox_server(tmp_path_factory.mktemp("fresh") / "data", **env) as server:
        yield server


async def test_a_new_session_is_served_before_its_sync_starts_and_loses_nothing(srv: TandemServer) -> None:
    session = new_session()
    workspace = workspace_dir(Settings(data=srv.data), session)
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        files = doc.get("files", type=Map)
        files["first.txt"] = Text("typed at once\n")  # maybe before the sync runs: written all the same
        await eventually(lambda: (workspace / "first.txt").exists(), timeout=15)
        assert os.path.ismount(workspace)  # onto the quota's file system, never the bare directory
        (workspace / "from-disk.txt").write_text("disk\n")
        await eventually(lambda: "from-disk.txt" in files, timeout=15)
        async with term_client(term_url(srv, session)) as term:  # the container sees the same files
            out = await term.run("cat first.txt from-disk.txt; echo end-$((1+1))", "end-2")
            assert b"typed at once" in out and b"disk" in out
    assert srv.log().count(f"workspace {workspace}: {SERVED_FIRST}") == 1
    await eventually(lambda: f"room {session!r} unloaded" in srv.log(), timeout=30)
    # Loaded again, the workspace has files (in its quota image): read in before the first sync.
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        assert {"first.txt", "from-disk.txt"} <= set(doc.get("files", type=Map).keys())
    assert srv.log().count(f"workspace {workspace}: {SERVED_FIRST}") == 1


@pytest.fixture(scope="module")
def burst_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_WORKSPACE_QUOTA": "off", "TANDEM_FILESYNC_FRESH_START_CONCURRENCY": "1"}
    with sandbox_server(tmp_path_factory.mktemp("burst") / "data", **env) as server:
        yield server


async def test_a_burst_of_new_sessions_syncs_every_one_in_turn(burst_srv: TandemServer) -> None:
    """New rooms' syncs start behind them through `filesync_fresh_start_concurrency` (1 here): each
    waits its turn, none is forgotten, and a terminal of one still gets its files."""
    sessions = [new_session() for _ in range(8)]
    async with contextlib.AsyncExitStack() as stack:
        for i, session in enumerate(sessions):
            doc, provider = await stack.enter_async_context(pycrdt_client(burst_srv.ws_url, session))
            await provider.synced.wait()
            doc.get("files", type=Map)[f"f{i}.txt"] = Text(f"room {i}\n")
        for i, session in enumerate(sessions):
            path = workspace_dir(Settings(data=burst_srv.data), session) / f"f{i}.txt"
            await eventually(lambda p=path: p.exists(), timeout=30)  # type: ignore[misc]
        async with term_client(term_url(burst_srv, sessions[-1])) as term:
            out = await term.run("cat f7.txt; echo end-$((1+1))", "end-2")
            assert b"room 7" in out

"""Finding 1 of the hardening review, against a real server and a real container: a process
left running in the sandbox swaps workspace directories with symlinks to a root-only host
directory (`renameat2(RENAME_EXCHANGE)` in a loop) while the server restarts — after kill -9,
and after SIGTERM with the session already deactivated. The host directory keeps its owner.

Also: SIGTERM stops every container the server ran, deactivated sessions' included.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiodocker
import anyio
import pytest

from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from sandbox.container_config import container_name
from tests.support import TandemServer, wait_until
from tests.swapper import build_swapper, make_secret
from tests.termclient import (
    ensure_engine_and_image,
    new_session,
    remove_containers,
    sandbox_env,
    term_client,
    term_url,
    unmount_under,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="the escape needs a root server (CI runs as root)"),
]

PAIRS = 8


@pytest.fixture
def instance() -> Iterator[str]:
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    anyio.run(ensure_engine_and_image)
    yield name
    anyio.run(remove_containers, name)


def _server(data: Path, instance: str) -> TandemServer:
    env = {**sandbox_env(instance), "TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "1"}
    return TandemServer(data, None, env=env)


async def _container_running(session: str, instance: str) -> bool:
    async with aiodocker.Docker() as docker:
        info = await (await docker.containers.get(container_name(session, instance))).show()
        return bool(info["State"]["Running"])


async def _start_the_race(server: TandemServer, session: str, swap: Path, secret: Path) -> Path:
    """In the session's terminal: plant directory/link pairs and leave the swapper running."""
    workspace = workspace_dir(Settings(data=server.data), session)
    async with term_client(term_url(server, session)) as editor:
        await editor.read_until(b"$ ")
        shutil.copy(swap, workspace / "swap")
        os.chmod(workspace / "swap", 0o755)
        pairs = " ".join(f"d{i} l{i}" for i in range(PAIRS))
        await editor.run(
            f"for i in $(seq 0 {PAIRS - 1}); do mkdir -p d$i/sub; echo x > d$i/sub/f;"
            f" ln -s {secret} l$i; done; echo planted-$((1+1))",
            "planted-2",
        )
        await editor.run(
            f"setsid ./swap {pairs} </dev/null >/dev/null 2>&1 & echo racing-$((2+2))", "racing-4"
        )
        await editor.run("ps | grep -c '[.]/swap'; echo counted-$((3+3))", "counted-6")
        assert b"\n1\r\n" in editor.output  # the swapper runs in the container
    # Root-owned host file: proof that the next start's walk really ran over the tree.
    (workspace / "host-written.txt").write_text("root wrote this\n")
    return workspace


async def _restart_and_check(
    server: TandemServer, session: str, workspace: Path, secret: Path, key: Path
) -> None:
    server.start()
    async with term_client(term_url(server, session)) as editor:
        await editor.read_until(b"$ ")
        await editor.run("ps | grep -c '[.]/swap'; echo counted-$((3+3))", "counted-6")
        assert b"\n0\r\n" in editor.output  # the container was stopped before the walk: racer gone
    assert (workspace / "host-written.txt").stat().st_uid == 1000  # the walk ran
    for path, mode in ((secret, 0o700), (key, 0o600)):
        st = path.lstat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, mode), path


async def test_a_racing_sandbox_process_cannot_chown_a_host_path_across_kill9(
    tmp_path: Path, instance: str
) -> None:
    swap = build_swapper(tmp_path)
    secret, key = make_secret(tmp_path)
    session = new_session()
    server = _server(tmp_path / "data", instance).start()
    try:
        workspace = await _start_the_race(server, session, swap, secret)
        server.kill9()
        assert await _container_running(session, instance)  # left running, racer inside
        await _restart_and_check(server, session, workspace, secret, key)
    finally:
        server.stop()
        unmount_under(tmp_path / "data")


async def test_sigterm_stops_a_deactivated_sessions_container_and_the_race_never_lands(
    tmp_path: Path, instance: str
) -> None:
    swap = build_swapper(tmp_path)
    secret, key = make_secret(tmp_path)
    session = new_session()
    server = _server(tmp_path / "data", instance).start()
    try:
        workspace = await _start_the_race(server, session, swap, secret)
        # Nobody watches: the terminal is hung up and the session deactivated (container still up).
        wait_until(lambda: f"session {session!r}: no terminals left, deactivated" in server.log(), 30)
        assert await _container_running(session, instance)
        server.stop()  # graceful: uvicorn re-raises SIGTERM once it has shut down
        assert not await _container_running(session, instance)
        await _restart_and_check(server, session, workspace, secret, key)
    finally:
        server.stop()
        unmount_under(tmp_path / "data")

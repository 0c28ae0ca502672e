"""Access changes reach open terminal connections: downgrade → read-only, revocation → 4403."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from backend import closecodes
from tests.access_client import Http
from tests.support import TandemServer
from tests.termclient import ensure_engine_and_image, remove_containers, sandbox_env, term_client

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def auth_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    anyio.run(ensure_engine_and_image)
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    data: Path = tmp_path_factory.mktemp("term-access")
    server = TandemServer(data, None, auth=True, env=sandbox_env(instance)).start()
    try:
        yield server
    finally:
        server.stop()
        anyio.run(remove_containers, instance)


def _setup(server: TandemServer, role: str) -> tuple[Http, str, dict]:  # type: ignore[type-arg]
    owner = Http(server.http_url)
    owner.signup(f"owner-{uuid.uuid4().hex[:6]}", PASSWORD)
    sid = str(owner.post("/api/sessions", json={"title": "term access"}).json()["id"])
    r = owner.post(f"/api/sessions/{sid}/links", json={"role": role})
    assert r.status_code == 201, r.text
    return owner, sid, r.json()


def _url(server: TandemServer, sid: str, token: str) -> str:
    return f"ws://127.0.0.1:{server.port}/term/{sid}/main?token={token}"


async def test_revoking_the_link_closes_an_open_terminal(auth_sandbox_server: TandemServer) -> None:
    owner, sid, link = _setup(auth_sandbox_server, "editor")
    async with term_client(_url(auth_sandbox_server, sid, link["token"])) as term:
        await term.run("echo ready-$((1+1))", "ready-2")
        assert owner.delete(f"/api/sessions/{sid}/links/{link['id']}").status_code in (200, 204)
        code, _reason = await term.closed(within=5)
        assert code == closecodes.FORBIDDEN


async def test_downgrade_makes_an_open_terminal_read_only(auth_sandbox_server: TandemServer) -> None:
    owner, sid, link = _setup(auth_sandbox_server, "editor")
    guest = Http(auth_sandbox_server.http_url)
    guest.join(link["token"], "dana")
    url = f"ws://127.0.0.1:{auth_sandbox_server.port}/term/{sid}/main"
    async with term_client(url, additional_headers={"Cookie": guest.cookie_header()}) as term:
        await term.run("echo before-$((2+2))", "before-4")
        people = owner.get(f"/api/sessions/{sid}/participants").json()
        dana = next(p for p in people if p["name"] == "dana")
        r = owner.patch(f"/api/sessions/{sid}/participants/{dana['id']}", json={"role": "viewer"})
        assert r.status_code == 204, r.text
        # From a keystroke after the change on, input is refused with a read-only notice.
        with anyio.fail_after(5):
            while not any(m.get("code") == "read_only" for m in term.controls):
                await term.send_input("\n")
                try:
                    await term.control_until(lambda m: m.get("code") == "read_only", within=0.2)
                except TimeoutError:
                    continue
        assert term.close_code is None  # same connection, no reconnect

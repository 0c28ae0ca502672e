"""Roles and lifecycle, in-process (uvicorn on an unused port, inside the test's event loop):
a viewer's input is refused and a viewer never resizes or starts a terminal; deleting a session
removes its container and workspace; orphans are reaped at start-up. Real Docker (no skip)."""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

import aiodocker
import anyio
import pytest
import uvicorn
from starlette.requests import HTTPConnection

from backend.app import create_app
from backend.auth.types import Principal, Role
from backend.node import Node
from backend.routes.owned import LocalOwner
from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from sandbox import TEST_IMAGE
from sandbox.container_config import container_name
from sandbox.quota import WorkspaceQuota
from tests.support import eventually as wait_for
from tests.support import free_port
from tests.termclient import ensure_engine_and_image, new_session, remove_containers, term_client

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


class RoleFromQuery:
    """`?role=viewer` -> a viewer; one principal per connection, like --no-auth."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal:
        role = Role(parse_qs(connection.url.query).get("role", ["editor"])[0])
        n = next(self._n)
        return Principal(id=f"{role}-{n}", name=f"{role.title()} {n}", role=role)


@asynccontextmanager
async def inprocess(data: Path, instance: str) -> AsyncIterator[tuple[str, Node]]:
    await ensure_engine_and_image()
    port = free_port()
    settings = Settings(
        no_auth=True,
        data=data,
        port=port,
        sandbox="docker",
        sandbox_image=TEST_IMAGE,
        sandbox_instance=instance,
        filesync_debounce_ms=20,
    )
    asgi = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, ws="websockets-sansio", log_level="warning")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await wait_for(lambda: server.started, timeout=30)
        node: Node = asgi.app.state.node
        # The channels authenticate through the gate: this test's authenticator replaces it there
        # (one node: `/term` is served by the local owner of those sockets).
        sockets = replace(node.sockets, gate=replace(node.sockets.gate, authenticator=RoleFromQuery()))
        services = asgi.app.state.node = replace(node, sockets=sockets, owners=LocalOwner(sockets))
        try:
            yield f"ws://127.0.0.1:{port}", services
        finally:
            server.should_exit = True


@pytest.fixture
def instance() -> str:
    return f"pytest-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def app(tmp_path: Path, instance: str) -> AsyncIterator[tuple[str, Node]]:
    try:
        async with inprocess(tmp_path / "data", instance) as running:
            yield running
    finally:
        await remove_containers(instance)


async def test_viewer_input_is_refused_and_viewers_never_resize(app: tuple[str, Node]) -> None:
    base, _ = app
    url = f"{base}/term/{new_session()}/main"
    async with term_client(url + "?role=editor") as editor, term_client(url + "?role=viewer") as viewer:
        await editor.read_until(b"$ ")
        await editor.send_control({"type": "resize", "cols": 100, "rows": 30})
        await editor.control_until(lambda m: m["type"] == "status" and m.get("cols") == 100)
        await viewer.send_control({"type": "resize", "cols": 40, "rows": 10})
        await viewer.send_input("echo typed-by-viewer\n")
        refusal = await viewer.control_until(lambda m: m["type"] == "error")
        assert refusal["code"] == "read_only"
        out = await editor.run("stty size; echo editor-$((1+1))", "editor-2\r\n")
        assert "30 100" in out.decode()  # the viewer's 40x10 did not count
        await viewer.read_until(b"editor-2\r\n")
        assert b"typed-by-viewer" not in editor.output and b"typed-by-viewer" not in viewer.output
        assert all(
            m["author"]["id"].startswith("editor-") for m in viewer.controls if m["type"] == "attribution"
        )


async def test_a_viewer_cannot_start_a_terminal(app: tuple[str, Node], instance: str) -> None:
    base, services = app
    session = new_session()
    async with term_client(f"{base}/term/{session}/main?role=viewer") as viewer:
        code, reason = await viewer.closed()
    assert code == 4404 and "no terminal" in reason
    # Nothing was started for it: no container, no workspace, no active session.
    assert session not in services.terminals.registry.sessions
    assert not workspace_dir(services.settings, session).exists()
    async with aiodocker.Docker() as docker:
        with pytest.raises(aiodocker.DockerError) as err:
            await docker.containers.get(container_name(session, instance))
        assert err.value.status == 404


async def test_a_viewer_never_starts_a_stopped_container_or_another_terminal(
    app: tuple[str, Node], instance: str
) -> None:
    base, services = app
    registry = services.terminals.registry
    session = new_session()
    async with term_client(f"{base}/term/{session}/main?role=editor") as editor:
        await editor.read_until(b"$ ")
        # While it runs, a viewer watches `main` but may not open a second terminal.
        async with term_client(f"{base}/term/{session}/other?role=viewer") as viewer:
            code, _ = await viewer.closed()
            assert code == 4404
        async with term_client(f"{base}/term/{session}/main?role=viewer") as viewer:
            await viewer.control_until(lambda m: m["type"] == "resync")
    # The session is deactivated and its container stopped (as after an idle stop)...
    await registry._close_session(registry.sessions[session])
    await registry.sandbox.stop(session)
    # ...then a viewer comes back: refused, and the container stays stopped.
    async with term_client(f"{base}/term/{session}/main?role=viewer") as viewer:
        code, reason = await viewer.closed()
    assert code == 4404 and "no terminal" in reason
    assert session not in registry.sessions
    async with aiodocker.Docker() as docker:
        info = await (await docker.containers.get(container_name(session, instance))).show()
        assert not info["State"]["Running"]


async def test_deleting_a_session_removes_container_and_workspace(
    app: tuple[str, Node], instance: str
) -> None:
    base, services = app
    session = new_session()
    async with term_client(f"{base}/term/{session}/main") as editor:
        await editor.read_until(b"$ ")
        await editor.run("echo kept > file.txt; echo ok-$((1+1))", "ok-2")
        workspace = workspace_dir(services.settings, session)
        assert (workspace / "file.txt").exists()
        await services.lifecycle.session_deleted(session)
        code, _ = await editor.closed()
        assert code == 1001
    assert not workspace.exists()
    assert not WorkspaceQuota.image_of(workspace).exists()  # the quota image went with it
    async with aiodocker.Docker() as docker:
        with pytest.raises(aiodocker.DockerError) as err:
            await docker.containers.get(container_name(session, instance))
        assert err.value.status == 404


async def test_orphans_are_reaped_at_start_up(tmp_path: Path, instance: str) -> None:
    session = new_session()
    data = tmp_path / "data"
    try:
        async with inprocess(data, instance) as (base, services):
            async with term_client(f"{base}/term/{session}/main") as editor:
                await editor.read_until(b"$ ")
            workspace = workspace_dir(services.settings, session)
        # The session is gone (its workspace too) while the server was down.
        await anyio.to_thread.run_sync(shutil.rmtree, workspace)
        async with aiodocker.Docker() as docker:
            await docker.containers.get(container_name(session, instance))  # still there, stopped
            async with inprocess(data, instance):
                with pytest.raises(aiodocker.DockerError) as err:
                    await docker.containers.get(container_name(session, instance))
                assert err.value.status == 404
    finally:
        await remove_containers(instance)

"""A phone-sized viewer and the terminal layout, on the authenticated server with Docker
terminals (the busybox test image): tests/browser/phone.mjs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.browser.ui_support import Room, run_ui
from tests.support import TandemServer
from tests.termclient import ensure_engine_and_image, remove_containers, sandbox_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def auth_term_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    anyio.run(ensure_engine_and_image)
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    data = tmp_path_factory.mktemp("browser-phone")
    server = TandemServer(data, None, auth=True, env=sandbox_env(instance)).start()
    try:
        yield server
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()
        anyio.run(remove_containers, instance)


def test_phone_viewer_terminal_follow_and_join_fit(auth_term_server: TandemServer) -> None:
    room = Room(auth_term_server.http_url)
    room.guest("Pat", "viewer")
    setup = room.setup(viewerToken=room.link("viewer")["token"])
    print(run_ui("phone.mjs", "phone", auth_term_server.http_url, setup, timeout=240))

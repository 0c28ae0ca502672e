"""The page's side of the room server's hardening (issue 14), in real Chromium."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Map

from tests.browser.conftest import HERE, run_scenario
from tests.pyclient import pycrdt_client
from tests.support import TandemServer

pytestmark = pytest.mark.browser


def test_a_malformed_comment_is_skipped_with_a_note(noauth_server: TandemServer) -> None:
    # `--no-auth` is the point here: the authenticated server refuses a malformed comment, so only
    # there can one reach a page (as one stored before the check existed would).
    run_scenario("malformed", noauth_server.http_url, script="hardening.mjs")


def test_a_deletion_the_page_calls_saved_survives_kill_9(built_web: Path, tmp_path: Path) -> None:
    """A slow group commit keeps the deletion unpersisted for a while: the page must say
    "Saving…" until the server announces it durable, and what it then calls saved holds."""
    env = {"TANDEM_SANDBOX": "off", "TANDEM_GROUP_COMMIT_MS": "1500"}
    server = TandemServer(tmp_path / "data", None, env=env).start()
    room = f"delete-{uuid.uuid4().hex[:8]}"
    try:
        result = _scenario_in_room(server, room)
        server.kill9()
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    assert "saving" in result["states"], result["states"]  # not "Saved" before it was durable
    assert "DELETE ME" not in str(result["text"])
    restarted = TandemServer(tmp_path / "data", None, env=env).start()
    try:
        assert anyio.run(_file_text, restarted, room) == result["text"]
    finally:
        restarted.stop()


def _scenario_in_room(server: TandemServer, room: str) -> dict[str, object]:
    import os

    os.environ["TANDEM_ROOM"] = room
    try:
        return run_scenario("deleteSaved", server.http_url, script="hardening.mjs")
    finally:
        del os.environ["TANDEM_ROOM"]


async def _file_text(server: TandemServer, room: str) -> str:
    async with pycrdt_client(server.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        return str(doc.get("files", type=Map)["main.py"])


assert HERE.is_dir()

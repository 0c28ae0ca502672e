"""A real project past the frame limit in Chromium (#18 item 5): the first file's text shows before
the live doc has synced, then the editor takes over; a warm reload (the doc in IndexedDB) sends
kilobytes and is never closed with 1009; offline work past the frame limit goes up in pieces.
A `--no-auth` server: the room is a workspace prepared on
disk (tests/projects.py), which the UI cannot make."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.settings import Settings
from tests.browser.conftest import run_scenario
from tests.projects import LARGE_PACKAGES, copy_packages, text_files
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.browser

ROOM = "large-project"  # tests/browser/large_room.mjs


@pytest.fixture(scope="module")
def large_room(
    built_web: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TandemServer, dict[str, bytes]]]:
    data = tmp_path_factory.mktemp("large-room")
    copy_packages(data / "workspaces" / ROOM, LARGE_PACKAGES)
    texts, _ = text_files(data / "workspaces" / ROOM, Settings().filesync_max_file_bytes)
    with running_server(data, None, env={"TANDEM_SANDBOX": "off"}) as srv:
        yield srv, texts


def test_first_text_is_the_file_the_page_opens(large_room: tuple[TandemServer, dict[str, bytes]]) -> None:
    srv, texts = large_room
    url = f"{srv.http_url}/api/sessions/{ROOM}/files/first"
    first = httpx.get(url, timeout=60).json()
    assert first["path"] == min(texts) and first["text"].encode() == texts[first["path"]]
    assert first["files"] == len(texts) and first["truncated"] is False
    chosen = sorted(texts)[5]
    assert httpx.get(url, params={"path": chosen}, timeout=60).json()["path"] == chosen
    assert httpx.get(url, params={"path": "no/such.py"}, timeout=60).json()["path"] == min(texts)
    empty = httpx.get(f"{srv.http_url}/api/sessions/a-new-room/files/first", timeout=60)
    assert empty.status_code == 204 and empty.content == b""


def test_first_text_before_sync_then_editor_and_a_small_warm_reload(
    large_room: tuple[TandemServer, dict[str, bytes]],
) -> None:
    srv, texts = large_room
    assert sum(len(t) for t in texts.values()) > Settings().max_frame_bytes
    result = run_scenario("firstText", srv.http_url, timeout=600, script="large_room.mjs")
    assert result["files"] == len(texts)
    print("warm reload sent bytes:", result["warmSentBytes"])


def test_offline_work_past_the_frame_limit_goes_up_in_pieces(
    large_room: tuple[TandemServer, dict[str, bytes]],
) -> None:
    srv, _ = large_room
    result = run_scenario("offlineWork", srv.http_url, timeout=300, script="large_room.mjs")
    print("offline work sent:", result["sent"], "largest frame:", result["maxSent"])

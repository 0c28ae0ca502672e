"""The official JS `y-websocket` provider with `yjs` (Node) against the real server."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote

import pytest

from tests.nodeclient import ensure_node_packages, run_node
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.node


@pytest.fixture(scope="module", autouse=True)
def _node_packages() -> None:
    ensure_node_packages()


def room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_write_then_read(server: TandemServer) -> None:
    name = room("node-rw")
    written = run_node(
        "client.mjs", "write", "--url", server.ws_url, "--room", name, "--text", "hello 한국어 🦀"
    )
    length = str(written["length"])  # UTF-16 units, as Yjs counts
    read = run_node("client.mjs", "read", "--url", server.ws_url, "--room", name, "--expect-length", length)
    assert read["text"] == "hello 한국어 🦀"
    assert read["sha256"] == written["sha256"]


def test_five_clients_converge_with_emoji_and_korean(server: TandemServer) -> None:
    name = room("node-conv")
    result = run_node(
        "converge.mjs", "--url", server.ws_url, "--room", name, "--clients", "5", "--edits", "200"
    )
    assert result["state_vectors_equal"] is True
    assert result["well_formed"] is True
    assert result["clients"] == 5 and result["length"] > 0
    # A fresh client reads the very same text back from the server.
    dump = run_node("dump.mjs", "--url", server.ws_url, "--room", name)
    assert hashlib.sha256(dump["text_of_t"].encode("utf-8")).hexdigest() == result["text_sha256"]


def test_awareness_add_and_remove(server: TandemServer) -> None:
    for leave in ("null", "disconnect", "drop"):
        result = run_node(
            "client.mjs", "awareness", "--url", server.ws_url, "--room", room("node-aw"), "--leave", leave
        )
        assert result["seen_state"]["user"]["name"] == "A"


def test_two_megabyte_paste(server: TandemServer) -> None:
    result = run_node(
        "client.mjs", "paste", "--url", server.ws_url, "--room", room("node-paste"), "--bytes", "2000000"
    )
    assert result["bytes"] == 2_000_000


def test_files_map_rename(server: TandemServer) -> None:
    result = run_node("client.mjs", "files", "--url", server.ws_url, "--room", room("node-files"))
    assert result["content_ok"] is True and result["atomic"] is True
    assert result["keys_seen_by_b"] == ["src/b.py"]


def test_encoded_room_name(server: TandemServer) -> None:
    name = room("node") + "/sub"
    run_node(
        "client.mjs", "write", "--url", server.ws_url, "--room", quote(name, safe=""), "--text", "nested"
    )
    read = run_node(
        "client.mjs", "read", "--url", server.ws_url, "--room", quote(name, safe=""), "--expect-length", "6"
    )
    assert read["text"] == "nested"


def test_content_survives_restart_without_waiting(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """After a restart the first sync already carries the content (no load-after-sync race)."""
    name = room("node-restart")
    with running_server(tmp_path / "data", database_url) as server:
        run_node("client.mjs", "write", "--url", server.ws_url, "--room", name, "--text", "persisted")
    with running_server(tmp_path / "data", database_url) as server:
        dump = run_node("dump.mjs", "--url", server.ws_url, "--room", name)
        assert dump["text_of_t"] == "persisted"

"""A project past the frame limit syncs in pieces and reloads warm with a small diff (#18 item 5),
against a real server whose workspace is a real package tree (tests/projects.py, ~25 MB of text).

The official y-websocket client in Node gets the whole doc in frames far under the limit and is
never closed; a warm reload of a saved copy sends and receives kilobytes. A raw y-protocol client
sees how: updates first, then a small SyncStep2; and a bulk change in the workspace reaches it in
pieces too. (The page's side, IndexedDB and the first file's text: tests/browser/test_large_room.py.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Map, YSyncMessageType, create_sync_message
from pycrdt._sync import create_message
from websockets.asyncio.client import connect

from backend.rooms.protocol import SyncStep1, SyncUpdate, parse_message
from backend.settings import Settings
from tests.nodeclient import run_node
from tests.projects import LARGE_PACKAGES, copy_packages, text_files
from tests.pyclient import room_url
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.anyio

SESSION = "large-project"
FRAME_LIMIT = Settings().max_frame_bytes
PIECE = 1024 * 1024  # TANDEM_SYNC_MESSAGE_MAX_BYTES below
SMALL = 64 * 1024  # what a warm reload of an unchanged room may cost each way, at most


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TandemServer, dict[str, bytes]]]:
    data = tmp_path_factory.mktemp("large-sync")
    root = data / "workspaces" / SESSION
    copy_packages(root, LARGE_PACKAGES)
    texts, _ = text_files(root, Settings().filesync_max_file_bytes)
    env = {"TANDEM_SANDBOX": "off", "TANDEM_SYNC_MESSAGE_MAX_BYTES": str(PIECE)}
    with running_server(data, None, env=env) as srv:
        yield srv, texts


def _digest(texts: dict[str, bytes]) -> str:
    hash = hashlib.sha256()
    for path in sorted(texts):
        hash.update(path.encode() + b"\0" + texts[path] + b"\0")
    return hash.hexdigest()


def test_yjs_client_gets_the_whole_doc_in_pieces_and_reloads_warm(
    project: tuple[TandemServer, dict[str, bytes]],
) -> None:
    srv, texts = project
    assert sum(len(t) for t in texts.values()) > FRAME_LIMIT  # the point: more than one frame holds
    out = run_node("warm_reload.mjs", "--url", srv.ws_url, "--room", SESSION, timeout=240)
    cold, warm = out["cold"], out["warm"]
    # A plain y-websocket client still gets everything, never closed, no frame near the limit.
    assert out["doc_bytes"] > FRAME_LIMIT
    assert out["files"] == len(texts) and out["files_sha256"] == _digest(texts)
    assert cold["closes"] == [] and warm["closes"] == []
    assert cold["down_bytes"] > FRAME_LIMIT and cold["max_frame_down"] <= PIECE + 1024
    assert cold["frames_down"] > out["doc_bytes"] // (PIECE + 1024)
    # The warm reload: only what changed (nothing) each way, and the same files.
    assert warm["up_bytes"] < SMALL and warm["down_bytes"] < SMALL, warm
    assert out["warm_files_sha256"] == out["files_sha256"]
    assert "frame over the size limit" not in srv.log()


async def _read_sync(ws: object, doc: Doc) -> list[tuple[str, int]]:
    """Answer the server's SyncStep1 and apply until our SyncStep2; the (kind, size) of each frame."""
    frames: list[tuple[str, int]] = []
    while True:
        message = await ws.recv()  # type: ignore[attr-defined]
        if not isinstance(message, bytes) or message[:1] != b"\x00":
            continue
        parsed = parse_message(message)
        if isinstance(parsed, SyncStep1):
            answer = create_message(doc.get_update(parsed.state_vector), YSyncMessageType.SYNC_STEP2)
            await ws.send(answer)  # type: ignore[attr-defined]
            continue
        assert isinstance(parsed, SyncUpdate)
        frames.append(("step2" if parsed.step2 else "update", len(message)))
        doc.apply_update(parsed.update)
        if parsed.step2:
            return frames


async def test_raw_client_sees_updates_then_a_small_step2_and_bulk_changes_in_pieces(
    project: tuple[TandemServer, dict[str, bytes]],
) -> None:
    srv, texts = project
    doc, other = Doc(), Doc()
    url = room_url(srv.ws_url, SESSION)
    async with connect(url, max_size=None) as ws, connect(url, max_size=None) as ws2:
        # Two joiners at once (they share one cut: backend/rooms/largesync.py).
        await ws.send(create_sync_message(doc))
        await ws2.send(create_sync_message(other))
        syncs: dict[str, list[tuple[str, int]]] = {}

        async def sync(name: str, socket: object, into: Doc) -> None:
            syncs[name] = await _read_sync(socket, into)

        with anyio.fail_after(180):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sync, "first", ws, doc)
                tg.start_soon(sync, "second", ws2, other)
        for frames in syncs.values():
            kinds = [kind for kind, _ in frames]
            assert kinds[-1] == "step2" and set(kinds[:-1]) == {"update"} and len(kinds) > 10
            assert max(size for _, size in frames) <= PIECE + 1024
        assert str(other.get("files", type=Map)[min(texts)]) == texts[min(texts)].decode()
        assert len(other.get("files", type=Map)) == len(texts)
        files = doc.get("files", type=Map)
        assert len(files) == len(texts)
        # A bulk change on disk (a checkout, an unpacked archive): 40 new files of ~90 KB arrive
        # as live updates, none over the piece size.
        root: Path = srv.data / "workspaces" / SESSION
        added = {f"bulk/f{i}.txt": (f"line {i}\n" * 12_500) for i in range(40)}
        for rel, text in added.items():
            (root / rel).parent.mkdir(exist_ok=True)
            (root / rel).write_text(text)
        sizes: list[int] = []
        with anyio.fail_after(120):
            while not all(rel in files and str(files[rel]) == text for rel, text in added.items()):
                message = await ws.recv()
                if isinstance(message, bytes) and message[:1] == b"\x00":
                    parsed = parse_message(message)
                    assert isinstance(parsed, SyncUpdate)
                    sizes.append(len(message))
                    doc.apply_update(parsed.update)
        assert sum(sizes) > 3_500_000 and max(sizes) <= PIECE + 1024

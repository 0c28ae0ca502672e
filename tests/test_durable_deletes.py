"""Deletions are covered by the durability announcement (issue 14: a pure deletion never moves
the state vector, so "saved" came before a deletion was persisted)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text

from backend.rooms.durability import delete_set_of, digest
from tests.pyclient import decode_state_vector, pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as poll

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


def doc_digest(doc: Doc) -> str:
    return digest(delete_set_of(doc.get_update(doc.get_state())))


def test_page_and_server_digests_agree() -> None:
    """The page's `deleteSetDigest` (Yjs, in Node) equals the server's (yrs) for the same doc."""
    out = subprocess.run(
        ["node", str(ROOT / "tests/node/digest.mjs")],
        cwd=ROOT / "web",
        capture_output=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["a"] == result["b"]
    doc: Doc = Doc()
    doc.apply_update(base64.b64decode(result["update"]))
    assert doc_digest(doc) == result["a"]
    assert doc_digest(Doc()) != result["a"]


def test_the_pages_saved_rule() -> None:
    """`saveState` (in Node): trusts one server announcement only, and holds "saving" after a
    deletion until the announced delete-set digest matches."""
    out = subprocess.run(
        ["node", str(ROOT / "tests/node/saved_state.mjs")],
        cwd=ROOT / "web",
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == {
        "covered": "saved",
        "behind": "saving",
        "twoAnnouncements": "unknown",  # a forged second entry: no "Saved" at all
        "none": "unknown",
        "deletionNotYetDurable": "saving",
        "deletionDurable": "saved",
    }


def announced(provider: object) -> tuple[dict[int, int], str | None]:
    for state in provider.channel.awareness.values():  # type: ignore[attr-defined]
        tandem = state.get("tandem")
        if tandem:
            return decode_state_vector(base64.b64decode(tandem["durable"])), tandem.get("deletes")
    return {}, None


async def test_a_deletion_announced_durable_survives_kill_9(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    room = f"del-{uuid.uuid4().hex[:8]}"
    server = TandemServer(tmp_path / "data", database_url).start()
    digests: list[str | None] = []
    expected = ""
    try:
        async with pycrdt_client(server.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            text = doc.get("t", type=Text)
            text.insert(0, "keep this line\ndelete this line\nkeep this too\n")
            local = decode_state_vector(doc.get_state())
            await poll(lambda: announced(provider)[0].get(doc.client_id, 0) >= local[doc.client_id])
            digests.append(announced(provider)[1])
            del text[15:32]  # a pure deletion: the state vector does not move
            digests.append(doc_digest(doc))
            await poll(lambda: announced(provider)[1] == doc_digest(doc))
            expected = str(text)
            server.kill9()
            await anyio.sleep(0)
    except* Exception:
        pass  # the connection dies with the server
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    assert expected == "keep this line\nkeep this too\n"  # "saved" was announced for the deletion
    assert digests[0] != digests[1]  # the announcement moved for it
    restarted = TandemServer(tmp_path / "data", database_url).start()
    try:
        async with pycrdt_client(restarted.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            assert str(doc.get("t", type=Text)) == expected
    finally:
        restarted.stop()

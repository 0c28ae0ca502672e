"""pycrdt's own provider against the real server: sync, concurrent convergence, files map."""

from __future__ import annotations

import random
import uuid
from contextlib import AsyncExitStack

import anyio
import pytest
from pycrdt import Doc, Map, Text

from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for

pytestmark = pytest.mark.anyio

# pycrdt 0.14.13's Text mis-encodes an insert that splits an item holding non-ASCII characters
# (it mixes up offset units; the update it emits never integrates on another peer), so the random
# edits of the pycrdt clients are ASCII and each adds a non-ASCII word where nothing splits it;
# the Node client's test covers random emoji and Korean edits.
ALPHABET = "abc xyz\n"


def state_vector(doc: Doc) -> dict[int, int]:
    """The decoded state vector (its encoding's order of clients is not canonical)."""
    from tests.pyclient import decode_state_vector

    return decode_state_vector(doc.get_state())


def room() -> str:
    return f"py-{uuid.uuid4().hex[:8]}"


async def test_two_clients_sync_text(server: TandemServer) -> None:
    name = room()
    async with pycrdt_client(server.ws_url, name) as (doc_a, prov_a):
        await prov_a.synced.wait()
        text_a = doc_a.get("t", type=Text)
        text_a += "hello from A"
        async with pycrdt_client(server.ws_url, name) as (doc_b, prov_b):
            text_b = doc_b.get("t", type=Text)
            await wait_for(lambda: str(text_b) == "hello from A", what="B to receive A's text")
            text_b.insert(0, "B says: ")
            await wait_for(lambda: str(text_a) == "B says: hello from A", what="A to receive B's edit")


async def test_five_clients_converge_on_concurrent_edits(server: TandemServer) -> None:
    name = room()
    rng = random.Random(7)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(pycrdt_client(server.ws_url, name)) for _ in range(5)]
        for _, provider in clients:
            await provider.synced.wait()
        texts = [doc.get("t", type=Text) for doc, _ in clients]

        async def edit(i: int) -> None:
            text = texts[i]
            words = clients[i][0].get("words", type=Text)
            words.insert(0, ["한국어 ", "é ñ ", "日本 ", "Ωμέγα ", "привет "][i])  # never split
            for _ in range(200):
                length = len(str(text))
                if length > 10 and rng.random() < 0.3:
                    start = rng.randrange(length - 1)
                    del text[start : start + 1]
                else:
                    pos = rng.randrange(length + 1)
                    text.insert(pos, rng.choice(ALPHABET))
                if rng.random() < 0.2:
                    await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(edit, i)

        def converged() -> bool:
            first = str(texts[0])
            return all(str(t) == first for t in texts) and all(
                state_vector(d) == state_vector(clients[0][0]) for d, _ in clients
            )

        await wait_for(converged, timeout=30, what="five clients to converge")
        assert len(str(texts[0])) > 0
        words = {str(doc.get("words", type=Text)) for doc, _ in clients}
        assert len(words) == 1 and "한국어" in words.pop()

    # A fresh client gets the same bytes from the server.
    async with pycrdt_client(server.ws_url, name) as (fresh, provider):
        await provider.synced.wait()
        await wait_for(lambda: str(fresh.get("t", type=Text)) == str(texts[0]), what="fresh sync")


async def test_files_map_with_rename(server: TandemServer) -> None:
    name = room()
    async with pycrdt_client(server.ws_url, name) as (doc_a, prov_a):
        await prov_a.synced.wait()
        files_a = doc_a.get("files", type=Map)
        files_a["src/app.py"] = Text("print('hi')\n")
        async with pycrdt_client(server.ws_url, name) as (doc_b, prov_b):
            files_b = doc_b.get("files", type=Map)
            await wait_for(lambda: "src/app.py" in files_b, what="B to see the file")
            with doc_a.transaction():
                content = str(files_a["src/app.py"])
                del files_a["src/app.py"]
                files_a["src/main.py"] = Text(content)
            await wait_for(
                lambda: (
                    list(files_b.keys()) == ["src/main.py"] and str(files_b["src/main.py"]) == "print('hi')\n"
                ),
                what="B to see the rename",
            )


async def test_state_survives_with_no_clients(server: TandemServer) -> None:
    name = room()
    async with pycrdt_client(server.ws_url, name) as (doc, prov):
        await prov.synced.wait()
        doc.get("t", type=Text).insert(0, "kept")
        await wait_for(lambda: True)
    async with pycrdt_client(server.ws_url, name, Doc()) as (doc2, prov2):
        await prov2.synced.wait()
        await wait_for(lambda: str(doc2.get("t", type=Text)) == "kept", what="state kept")

"""Several `tandem serve` nodes on one Redis and one PostgreSQL serve one room as if they were one.

Nodes are real processes (tests/support.py) with TANDEM_REDIS_URL and a Redis key prefix of
their own per test module; the official y-websocket clients (tests/node) and pycrdt's provider
edit through different nodes. The convergence and awareness tests also run against one node
with the in-process bus (the embedded default), where every "node" is the same server.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text

from tests.nodeclient import ensure_node_packages, run_node
from tests.pyclient import pycrdt_client
from tests.scaleout_support import (
    SHARED_REDIS,
    PrivateRedis,
    new_node,
    redis_prefix,
    start_all,
    stop_all,
    stored_text,
)
from tests.support import TandemServer, postgres_database
from tests.support import eventually as until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.node]


def room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def _node_packages() -> None:
    ensure_node_packages()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    with redis_prefix() as p:
        yield p


@pytest.fixture(scope="module")
def three_nodes(
    pg_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[TandemServer]]:
    base = tmp_path_factory.mktemp("nodes")
    nodes = [new_node(base / f"n{i}", pg_url, SHARED_REDIS, prefix) for i in range(3)]
    try:
        yield start_all(nodes)
    finally:
        stop_all(nodes)


@pytest.fixture(scope="module", params=["redis-3-nodes", "in-process-1-node"])
def nodes(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[TandemServer]]:
    if request.param == "redis-3-nodes":
        yield request.getfixturevalue("three_nodes")
        return
    single = TandemServer(tmp_path_factory.mktemp("single"), pg_url, "--sandbox", "off").start()
    try:
        yield [single, single, single]
    finally:
        single.stop()


def test_official_clients_on_three_nodes_converge_byte_identically(nodes: list[TandemServer]) -> None:
    a, b, c = nodes
    name = room("so-conv")
    result = run_node(
        "converge.mjs", "--url", a.ws_url, "--spread", f"{b.ws_url},{c.ws_url}", "--room", name,
        "--clients", "6", "--edits", "150", timeout=90,
    )  # fmt: skip
    assert result["state_vectors_equal"] is True and result["well_formed"] is True
    # Every node serves the very same bytes to a fresh client.
    dumps = [run_node("dump.mjs", "--url", node.ws_url, "--room", name) for node in nodes]
    for dump in dumps:
        assert hashlib.sha256(dump["text_of_t"].encode()).hexdigest() == result["text_sha256"]
    assert len({d["sv_base64"] for d in dumps}) == 1


@pytest.mark.parametrize("leave", ["null", "disconnect", "drop"])
def test_awareness_is_seen_across_nodes(nodes: list[TandemServer], leave: str) -> None:
    a, b, _c = nodes
    result = run_node(
        "client.mjs", "awareness", "--url", a.ws_url, "--url-b", b.ws_url, "--room", room("so-aw"),
        "--leave", leave,
    )  # fmt: skip
    assert result["seen_state"]["user"]["name"] == "A"


# -- pycrdt clients that write numbered tokens, to check that nothing is lost ----------------------


async def write_tokens(doc: Doc, tag: str, start: int, stop: anyio.Event, delay: float = 0.004) -> int:
    """Append `tag{i} ` tokens until `stop`; returns the next index."""
    text = doc.get("t", type=Text)
    i = start
    while not stop.is_set():
        text.insert(len(text), f"{tag}{i} ")
        i += 1
        await anyio.sleep(delay)
    return i


def tokens(text: str) -> list[str]:
    return text.split()


def expected_tokens(tag: str, count: int) -> list[str]:
    return [f"{tag}{i}" for i in range(count)]


@pytest.mark.anyio
async def test_a_node_joining_a_busy_room_catches_up_without_gap(
    three_nodes: list[TandemServer], pg_url: str, prefix: str, tmp_path: Path
) -> None:
    a, b, _c = three_nodes
    name = room("so-join")
    doc_a, doc_b = Doc(), Doc()
    stop = anyio.Event()
    late = new_node(tmp_path / "late", pg_url, SHARED_REDIS, prefix)
    counts: dict[str, int] = {}
    try:
        async with (
            pycrdt_client(a.ws_url, name, doc_a) as (_, prov_a),
            pycrdt_client(b.ws_url, name, doc_b) as (_, prov_b),
        ):
            await prov_a.synced.wait()
            await prov_b.synced.wait()

            async def writer(doc: Doc, tag: str) -> None:
                counts[tag] = await write_tokens(doc, tag, 0, stop)

            async with anyio.create_task_group() as tg:
                tg.start_soon(writer, doc_a, "a")
                tg.start_soon(writer, doc_b, "b")
                # The new node boots and loads the room while both keep writing.
                await anyio.to_thread.run_sync(late.start)
                async with pycrdt_client(late.ws_url, name) as (doc_late, prov_late):
                    await prov_late.synced.wait()
                    await anyio.sleep(0.5)  # more edits land while the late node is live
                    stop.set()
                    tg.cancel_scope.deadline = anyio.current_time() + 10

                    def same() -> bool:
                        texts = {str(d.get("t", type=Text)) for d in (doc_a, doc_b, doc_late)}
                        return len(texts) == 1

                    await until(same)
            final = str(doc_late.get("t", type=Text))
        assert sorted(t for t in tokens(final) if t[0] == "a") == sorted(expected_tokens("a", counts["a"]))
        assert sorted(t for t in tokens(final) if t[0] == "b") == sorted(expected_tokens("b", counts["b"]))
        assert counts["a"] > 20 and counts["b"] > 20
        await until(lambda: stored_text(pg_url, name) == final, timeout=20, interval=0.3)
    finally:
        stop_all([late])


@pytest.mark.anyio
async def test_kill_9_of_a_node_mid_edit_loses_nothing(
    three_nodes: list[TandemServer], pg_url: str, prefix: str, tmp_path: Path
) -> None:
    a, b, _c = three_nodes
    victim = await anyio.to_thread.run_sync(new_node(tmp_path / "victim", pg_url, SHARED_REDIS, prefix).start)
    name = room("so-kill")
    doc = Doc()  # the writer's document survives its connection, as in a browser tab
    text = doc.get("t", type=Text)
    try:
        async with pycrdt_client(a.ws_url, name) as (doc_obs, prov_obs):
            await prov_obs.synced.wait()
            written = 0

            def write_next() -> None:
                nonlocal written
                text.insert(len(text), f"w{written} ")
                written += 1

            try:
                async with pycrdt_client(victim.ws_url, name, doc) as (_, prov):
                    await prov.synced.wait()
                    while written < 400:
                        write_next()
                        if written == 250:
                            victim.kill9()  # mid-edit: some edits are in flight, some unsent
                        await anyio.sleep(0.003)
            except* Exception:
                pass  # the connection dies with the node
            while written < 400:  # typed while the editor reconnects
                write_next()
            # The client reconnects through the load balancer and lands on another node.
            async with pycrdt_client(b.ws_url, name, doc) as (_, prov_b):
                await prov_b.synced.wait()
                for i in range(400, 500):
                    text.insert(len(text), f"w{i} ")
                    await anyio.sleep(0.003)
                final = str(text)
                assert tokens(final) == expected_tokens("w", 500)
                await until(lambda: str(doc_obs.get("t", type=Text)) == final)
        # Exactly that is durable in PostgreSQL (the survivors persist what the dead node had not).
        await until(lambda: stored_text(pg_url, name) == final, timeout=30, interval=0.3)
    finally:
        stop_all([victim])


@pytest.mark.anyio
async def test_redis_restart_during_editing_converges_and_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    own = PrivateRedis(tmp_path / "redis").start()
    nodes = start_all([new_node(tmp_path / f"r{i}", pg_url, own.url, "tandem:") for i in range(2)])
    a, b = nodes
    name = room("so-redis")
    doc_a, doc_b = Doc(), Doc()
    stop = anyio.Event()
    counts: dict[str, int] = {}
    try:
        async with (
            pycrdt_client(a.ws_url, name, doc_a) as (_, prov_a),
            pycrdt_client(b.ws_url, name, doc_b) as (_, prov_b),
        ):
            await prov_a.synced.wait()
            await prov_b.synced.wait()

            async def writer(doc: Doc, tag: str) -> None:
                counts[tag] = await write_tokens(doc, tag, 0, stop, delay=0.01)

            async with anyio.create_task_group() as tg:
                tg.start_soon(writer, doc_a, "a")
                tg.start_soon(writer, doc_b, "b")
                await anyio.sleep(0.5)
                own.kill()  # every stream and cursor is gone with it
                await anyio.sleep(1.5)
                own.restart()
                await anyio.sleep(1.0)
                stop.set()

            def same() -> bool:
                return str(doc_a.get("t", type=Text)) == str(doc_b.get("t", type=Text))

            await until(same, timeout=30)
            final = str(doc_a.get("t", type=Text))
        assert sorted(t for t in tokens(final) if t[0] == "a") == sorted(expected_tokens("a", counts["a"]))
        assert sorted(t for t in tokens(final) if t[0] == "b") == sorted(expected_tokens("b", counts["b"]))
        await until(lambda: stored_text(pg_url, name) == final, timeout=20, interval=0.3)
        assert "redis connection lost" in a.log() and "connection back" in a.log()
    finally:
        stop_all(nodes)
        if own.proc is not None and own.proc.poll() is None:
            own.kill()

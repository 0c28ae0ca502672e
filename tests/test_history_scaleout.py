"""Version history on two nodes (Redis + PostgreSQL): every node holding a room records it, and
one state is still one version, naming the authors of both nodes.

Each version's state is checked independently of the server's own key: its stored update is
loaded into a fresh Doc and compared by state vector and delete set (`state_key`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pycrdt import Doc, Map, Text
from sqlmodel import Session, col, select

from backend.history.models import SessionVersion
from backend.history.statekey import state_key
from backend.settings import Settings
from backend.store.database import make_engine
from tests.access_client import Http
from tests.pyclient import pycrdt_client
from tests.scaleout_support import SHARED_REDIS, node_env, redis_prefix, start_all, stop_all
from tests.support import TandemServer, postgres_database
from tests.support import eventually as until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.anyio]

HISTORY_ENV = {
    "TANDEM_HISTORY_IDLE_SECONDS": "0.3",
    "TANDEM_HISTORY_POLL_SECONDS": "0.1",
    "TANDEM_HISTORY_MAX_INTERVAL_SECONDS": "600",
}
MERGED = "that state was recorded already"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def two_nodes(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TandemServer]]:
    base = tmp_path_factory.mktemp("history-nodes")
    with redis_prefix() as prefix:
        env = {**node_env(SHARED_REDIS, prefix), **HISTORY_ENV}
        nodes = [TandemServer(base / f"n{i}", pg_url, "--sandbox", "off", env=env) for i in range(2)]
        try:
            yield start_all(nodes)
        finally:
            stop_all(nodes)


def files(doc: Doc) -> dict[str, str]:
    return {k: str(v) for k, v in doc.get("files", type=Map).items()}


def versions(http: Http, room: str) -> list[dict[str, Any]]:
    r = http.get(f"/api/sessions/{room}/history")
    assert r.status_code == 200, r.text
    return r.json()["versions"]  # type: ignore[no-any-return]


def names(version: dict[str, Any]) -> set[str]:
    return {a["name"] for a in version["authors"]}


def stored_state_keys(database_url: str, room: str) -> list[str]:
    """The state of every stored version of the room, from its data (not from its key column)."""
    engine = make_engine(Settings(database_url=database_url).resolved_database_url())
    try:
        with Session(engine) as db:
            rows = db.exec(select(SessionVersion).where(col(SessionVersion.session) == room)).all()
    finally:
        engine.dispose()
    by_id = {row.id: row for row in rows}
    keys = []
    for row in rows:
        # A delta's state is its checkpoint's plus every delta up to it (`base_id` links them).
        doc: Doc = Doc()
        link: SessionVersion | None = row
        while link is not None:
            doc.apply_update(link.data)
            link = by_id[link.base_id] if link.base_id is not None else None
        keys.append(state_key(doc))
    return keys


def newest_is_now(http: Http, room: str) -> bool:
    """The newest version holds exactly what the server holds now."""
    listed = versions(http, room)
    if not listed:
        return False
    diff = http.get(f"/api/sessions/{room}/history/{listed[0]['id']}/diff").json()
    return diff["files"] == []


@asynccontextmanager
async def alice_and_bob(
    nodes: list[TandemServer], room: str, path: str, text: str
) -> AsyncIterator[tuple[Doc, Doc]]:
    """Alice on node 1 and Bob on node 2 in `room`; Alice creates `path`, Bob has it too."""
    n1, n2 = nodes
    async with (
        pycrdt_client(n1.ws_url, room, query="?name=Alice") as (doc_a, prov_a),
        pycrdt_client(n2.ws_url, room, query="?name=Bob") as (doc_b, prov_b),
    ):
        await prov_a.synced.wait()
        await prov_b.synced.wait()
        doc_a.get("files", type=Map)[path] = Text(text)
        await until(lambda: files(doc_b) == files(doc_a), what="the file on node 2")
        yield doc_a, doc_b


async def test_idle_versions_from_two_nodes_are_one_version_per_state(
    two_nodes: list[TandemServer], pg_url: str
) -> None:
    n1, n2 = two_nodes
    room = f"hist-2n-{uuid.uuid4().hex[:8]}"
    h1, h2 = Http(n1.http_url), Http(n2.http_url)
    async with alice_and_bob(two_nodes, room, "main.py", "print('hello')\n") as (doc_a, doc_b):
        for rnd in range(3):
            # Alice (node 1) and Bob (node 2) write in the same idle window.
            doc_a.get("files", type=Map)["main.py"].insert(0, f"# alice {rnd}\n")
            bob = doc_b.get("files", type=Map)["main.py"]
            bob.insert(len(bob), f"# bob {rnd}\n")
            await until(lambda: files(doc_a) == files(doc_b), what="both edits on both nodes")
            # Both nodes recorded this state: the one version names both (each node knows only
            # who wrote through it), so the second recorder merged into the first one's row.
            await until(
                lambda: newest_is_now(h1, room) and {"Alice", "Bob"} <= names(versions(h1, room)[0]),
                timeout=60,
                what=f"round {rnd}: one version of the state naming Alice and Bob",
            )
        listed = versions(h2, room)
        assert versions(h1, room) == listed  # one history, whichever node answers
        keys = stored_state_keys(pg_url, room)
        assert len(keys) == len(set(keys)) == len(listed), listed
        assert all("server" not in names(v) for v in listed), listed  # remote edits name no one
    assert MERGED in n1.log() + n2.log()


async def test_checkpoints_on_two_nodes_at_once_are_one_version(two_nodes: list[TandemServer]) -> None:
    n1, n2 = two_nodes
    room = f"hist-cp-{uuid.uuid4().hex[:8]}"
    h1, h2 = Http(n1.http_url), Http(n2.http_url)
    async with alice_and_bob(two_nodes, room, "notes.md", "# notes\n") as (doc_a, doc_b):
        await until(lambda: newest_is_now(h1, room), timeout=60, what="the idle version")
        before = versions(h1, room)

        # Nothing changed since: both nodes checkpoint the same state at the same moment.
        def checkpoint(pair: tuple[Http, str]) -> dict[str, Any]:
            http, who = pair
            r = http.post(f"/api/sessions/{room}/history", params={"name": who})
            assert r.status_code == 201, r.text
            return r.json()  # type: ignore[no-any-return]

        with ThreadPoolExecutor(2) as pool:
            one, two = pool.map(checkpoint, [(h1, "Carol"), (h2, "Dave")])
        assert one["id"] == two["id"] == before[0]["id"]
        after = versions(h2, room)
        assert len(after) == len(before)
        assert after[0]["kind"] == "manual" and {"Carol", "Dave"} <= names(after[0])


async def test_a_restore_on_one_node_is_one_version_attributed_to_its_author(
    two_nodes: list[TandemServer], pg_url: str
) -> None:
    n1, n2 = two_nodes
    room = f"hist-rs-{uuid.uuid4().hex[:8]}"
    h1, h2 = Http(n1.http_url), Http(n2.http_url)
    async with alice_and_bob(two_nodes, room, "app.py", "v = 1\n") as (doc_a, doc_b):
        await until(lambda: newest_is_now(h2, room), timeout=60, what="the first version")
        first = versions(h2, room)[0]
        app_b = doc_b.get("files", type=Map)["app.py"]
        app_b.insert(len(app_b), "v = 2\n")
        await until(lambda: files(doc_a) == files(doc_b), what="Bob's edit on node 1")
        # Recorded by node 2 (the only one that knows Bob wrote), so its next version starts afresh.
        await until(
            lambda: newest_is_now(h1, room) and "Bob" in names(versions(h1, room)[0]),
            timeout=60,
            what="the second version, from node 2",
        )

        merged_before = n2.log().count(MERGED)
        restore_url = f"/api/sessions/{room}/history/{first['id']}/restore"
        r = h1.post(restore_url, json={"file": "app.py"}, params={"name": "Carol"})
        assert r.status_code == 200, r.text
        restore = r.json()["version"]
        await until(
            lambda: files(doc_a)["app.py"] == files(doc_b)["app.py"] == "v = 1\n", what="restored everywhere"
        )
        # Node 2 records the restored state too, after its idle delay: merged, and it adds no one.
        await until(lambda: n2.log().count(MERGED) > merged_before, timeout=60, what="node 2's merge")
        listed = versions(h1, room)
        assert listed[0]["id"] == restore["id"] and listed[0]["kind"] == "restore", listed
        assert names(listed[0]) == {"Carol"}, listed[0]
        keys = stored_state_keys(pg_url, room)
        assert len(keys) == len(set(keys)), listed

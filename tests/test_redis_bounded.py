"""Redis keeps no room once no node holds it: two nodes (Redis + PostgreSQL, a key prefix of their
own); a room unloaded everywhere leaves no stream (and loads again with everything), and a deleted
session leaves no key at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.access_client import Http, insert_file, yclient
from tests.scaleout_support import SHARED_REDIS, node_env, redis_prefix, start_all, stop_all
from tests.support import TandemServer, postgres_database
from tests.support import eventually as until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.anyio]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[TandemServer], str]]:
    base = tmp_path_factory.mktemp("bounded")
    with postgres_database() as pg, redis_prefix() as prefix:
        env = node_env(SHARED_REDIS, prefix)
        args = ("--sandbox", "off", "--room-idle-unload-seconds", "0.3")
        nodes = [TandemServer(base / f"n{i}", pg, *args, env=env, auth=True) for i in range(2)]
        try:
            yield start_all(nodes), prefix
        finally:
            stop_all(nodes)


def keys_of(prefix: str, sid: str) -> set[str]:
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        return {k.decode() for k in client.scan_iter(match=f"{prefix}*") if sid.encode() in k}
    finally:
        client.close()


def owner_session(node: TandemServer) -> tuple[Http, str]:
    owner = Http(node.http_url)
    owner.signup(f"bounded-{uuid.uuid4().hex[:6]}", PASSWORD)
    r = owner.post("/api/sessions", json={"title": "bounded"})
    assert r.status_code == 201, r.text
    return owner, str(r.json()["id"])


async def edit_on_both(nodes: list[TandemServer], owner: Http, sid: str, prefix: str) -> None:
    cookie = owner.cookie_header()
    async with (
        yclient(nodes[0].ws_url, sid, cookie=cookie) as c1,
        yclient(nodes[1].ws_url, sid, cookie=cookie) as c2,
    ):
        await c1.edit(insert_file("a.py", "one\n"))
        await c2.edit(insert_file("b.py", "two\n"))
        await until(lambda: c1.file_text("b.py") == "two\n" and c2.file_text("a.py") == "one\n")
        assert f"{prefix}ch:room:{sid}" in keys_of(prefix, sid)
        assert f"{prefix}holders:room:{sid}" in keys_of(prefix, sid)


async def test_a_room_unloaded_everywhere_leaves_no_stream(cluster: tuple[list[TandemServer], str]) -> None:
    nodes, prefix = cluster
    owner, sid = owner_session(nodes[0])
    await edit_on_both(nodes, owner, sid, prefix)
    await until(lambda: not keys_of(prefix, sid), what="the room's stream and holders deleted")
    async with yclient(nodes[1].ws_url, sid, cookie=owner.cookie_header()) as again:
        await until(lambda: again.file_text("a.py") == "one\n" and again.file_text("b.py") == "two\n")


async def test_a_deleted_session_leaves_no_keys(cluster: tuple[list[TandemServer], str]) -> None:
    nodes, prefix = cluster
    owner, sid = owner_session(nodes[0])
    cookie = owner.cookie_header()
    async with (
        yclient(nodes[0].ws_url, sid, cookie=cookie) as c1,
        yclient(nodes[1].ws_url, sid, cookie=cookie) as c2,
    ):
        await c1.edit(insert_file("a.py", "one\n"))
        await until(lambda: c2.file_text("a.py") == "one\n")
        assert keys_of(prefix, sid)
        assert owner.delete(f"/api/sessions/{sid}").status_code == 204
        await until(lambda: not keys_of(prefix, sid), what="every key of the deleted session gone")


async def test_a_loaded_room_is_trimmed_once_persisted_and_read_everywhere(
    cluster: tuple[list[TandemServer], str],
) -> None:
    nodes, prefix = cluster
    owner, sid = owner_session(nodes[0])
    cookie = owner.cookie_header()
    r = redis.Redis.from_url(SHARED_REDIS)
    try:
        async with (
            yclient(nodes[0].ws_url, sid, cookie=cookie) as c1,
            yclient(nodes[1].ws_url, sid, cookie=cookie) as c2,
        ):
            for i in range(20):
                await (c1 if i % 2 else c2).edit(insert_file(f"f{i}.py", f"{i}\n"))
            await until(lambda: c1.file_text("f18.py") == "18\n" and c2.file_text("f19.py") == "19\n")
            stream = f"{prefix}ch:room:{sid}"
            assert r.scard(f"{prefix}holders:room:{sid}") == 2
            await until(lambda: r.xlen(stream) == 0, what="the loaded room's stream trimmed")
            await c1.edit(insert_file("late.py", "late\n"))  # and it still carries what comes next
            await until(lambda: c2.file_text("late.py") == "late\n")
    finally:
        r.close()

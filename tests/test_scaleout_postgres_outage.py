"""PostgreSQL briefly unavailable under two nodes: edits keep flowing between nodes through Redis,
`/readyz` reports the database, the writers queue (bounded) and flush when it returns.

The shared PostgreSQL is never touched: the nodes reach it through a TCP proxy this test owns,
and "unavailable" means the proxy drops every connection and refuses new ones."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from pycrdt import Doc, Text

from tests.pyclient import pycrdt_client
from tests.scaleout_support import (
    SHARED_REDIS,
    TcpProxy,
    new_node,
    redis_prefix,
    start_all,
    stop_all,
    stored_text,
)
from tests.support import eventually as until
from tests.support import postgres_database

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.anyio]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def ready(url: str) -> int:
    return httpx.get(url + "/readyz", timeout=10).status_code


async def test_postgres_outage_queues_and_flushes(pg_url: str, tmp_path: Path) -> None:
    proxy = TcpProxy("127.0.0.1", 5432).start()
    name = f"so-pg-{uuid.uuid4().hex[:8]}"
    with redis_prefix() as prefix:
        nodes = start_all(
            [new_node(tmp_path / f"n{i}", proxy.url_for(pg_url), SHARED_REDIS, prefix) for i in range(2)]
        )
        a, b = nodes
        try:
            doc_a, doc_b = Doc(), Doc()
            text = doc_a.get("t", type=Text)
            async with (
                pycrdt_client(a.ws_url, name, doc_a) as (_, prov_a),
                pycrdt_client(b.ws_url, name, doc_b) as (_, prov_b),
            ):
                await prov_a.synced.wait()
                await prov_b.synced.wait()
                for i in range(100):
                    text.insert(len(text), f"p{i} ")
                    await anyio.sleep(0.003)
                proxy.cut()
                for i in range(100, 300):  # edited while the database is away
                    text.insert(len(text), f"p{i} ")
                    await anyio.sleep(0.003)
                await until(lambda: str(doc_b.get("t", type=Text)) == str(text))  # Redis still carries them
                assert await anyio.to_thread.run_sync(ready, a.http_url) == 503
                proxy.restore()
                for i in range(300, 350):
                    text.insert(len(text), f"p{i} ")
                    await anyio.sleep(0.003)
                final = str(text)
                assert final.split() == [f"p{i}" for i in range(350)]
                await until(lambda: str(doc_b.get("t", type=Text)) == final)
            # Everything reaches PostgreSQL once it is back (read directly, not through the proxy).
            await until(lambda: stored_text(pg_url, name) == final, timeout=40, interval=0.5)
            await until(lambda: ready(a.http_url) == 200, timeout=20, interval=0.5)
        finally:
            stop_all(nodes)
            proxy.cut()

"""A rolling restart of one of two nodes under load loses nothing: SIGTERM closes its clients with
1012, they reconnect to the other node with their documents, and PostgreSQL ends up with every edit."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text

from tests.pyclient import pycrdt_client
from tests.scaleout_support import SHARED_REDIS, new_node, redis_prefix, start_all, stop_all, stored_text
from tests.support import eventually as until
from tests.support import postgres_database

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]


async def test_rolling_restart_of_one_node_loses_nothing(tmp_path: Path) -> None:
    name = f"ops-roll-{uuid.uuid4().hex[:8]}"
    with postgres_database() as pg_url, redis_prefix() as prefix:
        a, b = nodes = [new_node(tmp_path / f"n{i}", pg_url, SHARED_REDIS, prefix) for i in range(2)]
        start_all(nodes)
        try:
            doc = Doc()  # the writer's document outlives its connection, as in a browser tab
            text = doc.get("t", type=Text)
            written = 0
            close_code: int | None = None

            def write_next() -> None:
                nonlocal written
                text.insert(len(text), f"w{written} ")
                written += 1

            async with pycrdt_client(b.ws_url, name) as (doc_obs, prov_obs):
                await prov_obs.synced.wait()
                ws = None
                try:
                    async with pycrdt_client(a.ws_url, name, doc) as (_, prov):
                        await prov.synced.wait()
                        ws = prov.channel._ws  # type: ignore[attr-defined]
                        async with anyio.create_task_group() as tg:
                            while ws.close_code is None:
                                write_next()
                                if written == 200:  # node A restarts mid-edit
                                    tg.start_soon(anyio.to_thread.run_sync, a.stop, signal.SIGTERM)
                                await anyio.sleep(0.003)
                except* Exception:
                    if ws is None or ws.close_code is None:
                        raise
                close_code = ws.close_code if ws is not None else None
                assert close_code == 1012
                # Reconnect through the "load balancer" to the surviving node, and keep typing.
                async with pycrdt_client(b.ws_url, name, doc) as (_, prov_b):
                    await prov_b.synced.wait()
                    for _ in range(100):
                        write_next()
                        await anyio.sleep(0.003)
                    final = str(text)
                    assert final.split() == [f"w{i}" for i in range(written)]
                    await until(lambda: str(doc_obs.get("t", type=Text)) == final)
            await until(lambda: stored_text(pg_url, name) == final)
            assert "every room flushed" in a.log()
        finally:
            stop_all(nodes)

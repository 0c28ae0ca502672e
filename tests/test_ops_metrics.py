"""`/metrics`: Prometheus text format, and the counters move when clients edit."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Text

from tests.pyclient import pycrdt_client
from tests.support import eventually as poll
from tests.support import running_server, wait_until

pytestmark = pytest.mark.anyio


def scrape(base: str) -> dict[str, float]:
    """`name{label="v",...}` -> value, for every sample."""
    r = httpx.get(base + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def test_counters_move_when_clients_edit(tmp_path: Path, database_url: str) -> None:
    room = f"metrics-{uuid.uuid4().hex[:8]}"
    args = ("--sandbox", "off", "--room-idle-unload-seconds", "0.3")
    env = {"TANDEM_METRICS_FANOUT_SAMPLE_EVERY": "1"}
    with running_server(tmp_path / "data", database_url, *args, env=env) as server:
        before = scrape(server.http_url)
        assert before["tandem_rooms_loaded"] == 0
        assert before["tandem_messages_received_total"] == 0
        async with pycrdt_client(server.ws_url, room) as (doc_a, prov_a):
            await prov_a.synced.wait()
            async with pycrdt_client(server.ws_url, room) as (doc_b, prov_b):
                await prov_b.synced.wait()
                text = doc_a.get("t", type=Text)
                for i in range(50):
                    text.insert(len(str(text)), str(i % 10))
                    await anyio.sleep(0)
                await poll(lambda: str(doc_b.get("t", type=Text)) == str(text))
                await poll(lambda: scrape(server.http_url)["tandem_persisted_bytes_total"] > 0)
                during = scrape(server.http_url)
                assert during['tandem_connections_open{channel="yjs"}'] == 2
                assert during["tandem_rooms_loaded"] == 1
                assert during["tandem_messages_received_total"] >= 50
                assert during["tandem_messages_sent_total"] > 0  # merged per loop turn: fewer than received
                assert during["tandem_fanout_latency_seconds_count"] > 0
                assert during['tandem_fanout_latency_seconds_bucket{le="+Inf"}'] > 0
                assert during["tandem_persist_pending_updates"] >= 0
                assert during["tandem_persist_oldest_pending_seconds"] >= 0
                assert during['tandem_connections_opened_total{channel="yjs"}'] == 2
                # glibc's totals (backend/rooms/allocator.py): a Python server has megabytes in use.
                assert during["tandem_malloc_in_use_bytes"] > 1_000_000
                assert during["tandem_malloc_free_bytes"] >= 0
        # Both left: the room unloads (a compaction), its counters stay in the node totals.
        wait_until(lambda: scrape(server.http_url)["tandem_rooms_loaded"] == 0, timeout=20, what="unload")
        after = scrape(server.http_url)
        assert after["tandem_messages_received_total"] >= during["tandem_messages_received_total"]
        assert after["tandem_persisted_bytes_total"] >= during["tandem_persisted_bytes_total"]
        assert after["tandem_compactions_total"] >= 1
        assert after['tandem_connections_open{channel="yjs"}'] == 0
        assert sum(v for k, v in after.items() if k.startswith("tandem_ws_closes_total")) == 2
        # HTTP duration by route template (the scrapes above went through /metrics).
        assert (
            after['tandem_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}']
            > 0
        )

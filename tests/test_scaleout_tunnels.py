"""Terminals and screen share across nodes: two `tandem serve` processes on one Redis and one
PostgreSQL, real Docker terminals and aiortc media. A session's terminal and signaling hub live on
its owner node; a client that enters through the other node is tunnelled there (backend.tunnel).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.rtcpeers import CounterTrack, Publisher, Viewer, loopback_only
from tests.scaleout_support import SHARED_REDIS, node_env, redis_prefix, start_all, stop_all
from tests.signalclient import SignalClient
from tests.support import TandemServer, postgres_database
from tests.termclient import (
    TermClient,
    ensure_engine_and_image,
    remove_containers,
    sandbox_env,
    term_client,
    term_url,
)
from tests.test_ops_metrics import scrape

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def _node(data: Path, database_url: str, prefix: str, instance: str) -> TandemServer:
    env = {
        **node_env(SHARED_REDIS, prefix),
        **sandbox_env(instance),
        "TANDEM_OWNER_LEASE_SECONDS": "2",
        "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]',
    }
    return TandemServer(data, database_url, env=env)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TandemServer]]:
    anyio.run(ensure_engine_and_image)
    loopback_only()
    instances = [f"pytest-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with postgres_database() as database_url, redis_prefix() as prefix:
        servers = [
            _node(tmp_path_factory.mktemp(f"tunnel-node{i}"), database_url, prefix, instance)
            for i, instance in enumerate(instances)
        ]
        start_all(servers)
        try:
            yield servers
        finally:
            stop_all(servers)
            for instance in instances:
                anyio.run(remove_containers, instance)


@asynccontextmanager
async def one_terminal_from_both(
    a: TandemServer, b: TandemServer, s: str
) -> AsyncIterator[tuple[TermClient, TermClient]]:
    """A client of session `s`'s terminal on node A (first: A becomes the owner), then one on B."""
    async with term_client(term_url(a, s)) as on_a, term_client(term_url(b, s)) as on_b:
        await on_a.read_until(b"$ ", within=30)
        await on_b.read_until(b"$ ", within=30)
        yield on_a, on_b


def session() -> str:
    return f"tun-{uuid.uuid4().hex[:8]}"


async def test_one_terminal_for_clients_on_both_nodes(nodes: list[TandemServer]) -> None:
    a, b = nodes
    s = session()
    async with one_terminal_from_both(a, b, s) as (on_a, on_b):
        # Typed through node B, run in the one container, seen on both: the same shell.
        await on_b.send_input("echo $((6*7))-$$\n")
        out_b = await on_b.read_until(b"42-")
        out_a = await on_a.read_until(b"42-")
        pid_b = out_b.split(b"\n42-")[-1].split(b"\r")[0]
        pid_a = out_a.split(b"\n42-")[-1].split(b"\r")[0]
        assert pid_a == pid_b and pid_a.isdigit()
        # Typed through node A: node B's client sees it too.
        start = len(on_b.output)
        await on_a.send_input("echo from-$((1+1))-a\n")
        await on_b.read_until(b"from-2-a", start=start)
        # The metrics show the tunnel from both sides and the other node on the bus.
        on_a_metrics, on_b_metrics = scrape(a.http_url), scrape(b.http_url)
        assert on_a_metrics['tandem_tunnels_open{side="owner"}'] >= 1
        assert on_b_metrics['tandem_tunnels_open{side="entry"}'] >= 1
        assert on_a_metrics["tandem_bus_peers"] >= 1 and on_b_metrics["tandem_bus_peers"] >= 1


async def test_bulk_output_crosses_nodes_in_order_and_complete(nodes: list[TandemServer]) -> None:
    a, b = nodes
    s = session()
    async with one_terminal_from_both(a, b, s) as (on_a, on_b):
        start = len(on_b.output)
        # ~1.2 MB of numbered lines: more than the tunnel's window, so flow control is exercised.
        await on_a.send_input("seq 1 150000; echo seq-$((2*5))-done\n")
        await on_b.read_until(b"seq-10-done", within=60, start=start)
        text = bytes(on_b.output[start:]).decode()
        numbers = [int(line) for line in text.replace("\r", "").split("\n") if line.isdigit()]
        # A subscriber whose backlog overflows skips ahead (a `skipped` notice) instead of getting
        # every byte; without one, every line arrives once and in order.
        if not any(c["type"] == "skipped" for c in on_b.controls):
            assert numbers == list(range(1, 150001))
        else:
            assert numbers == sorted(numbers) and numbers[-1] == 150000


async def test_signaling_peers_on_both_nodes_see_and_reach_each_other(nodes: list[TandemServer]) -> None:
    a, b = nodes
    s = session()
    async with SignalClient.connect(a.http_url, s) as pa, SignalClient.connect(b.http_url, s) as pb:
        assert [p["id"] for p in pb.welcome["peers"]] == [pa.id]
        await pa.expect("join", lambda m: m["from"] == pb.id)
        await pb.send(type="offer", to=pa.id, sdp="v=0\r\n")
        offer = await pa.expect("offer")
        assert offer["from"] == pb.id
        await pa.send(type="share", on=True)
        sharing = await pb.expect("sharing")
        assert sharing["from"] == pa.id and sharing["on"] is True
    async with SignalClient.connect(b.http_url, s) as pb2, SignalClient.connect(a.http_url, s) as pa2:
        await pb2.expect("join", lambda m: m["from"] == pa2.id)
        await pa2.ws.close()
        left = await pb2.expect("leave")
        assert left["from"] == pa2.id


async def test_relay_media_to_a_viewer_on_the_other_node(nodes: list[TandemServer]) -> None:
    a, b = nodes
    s = session()
    async with SignalClient.connect(a.http_url, s) as sharer, SignalClient.connect(b.http_url, s) as watcher:
        await sharer.send(type="share", on=True)
        viewer = Viewer(watcher, sharer.id)
        await viewer.subscribe()
        publisher = Publisher(sharer, CounterTrack(fps=15))
        async with anyio.create_task_group() as tg:
            tg.start_soon(viewer.consume)
            await publisher.publish()
            with anyio.fail_after(10):
                await viewer.first_frame.wait()
            first = publisher.track.count
            with anyio.fail_after(10):
                while publisher.track.count < first + 30:
                    await anyio.sleep(0.05)
            last = publisher.track.count - 3
            tg.cancel_scope.cancel()
        expected = set(range(first, last))
        got = expected & set(viewer.received)
        assert len(got) >= 0.8 * len(expected), (len(got), len(expected))
        await viewer.close()
        await publisher.close()


async def test_owner_killed_clients_reconnect_to_a_new_owner(tmp_path: Path) -> None:
    await ensure_engine_and_image()
    instances = [f"pytest-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with postgres_database() as database_url, redis_prefix() as prefix:
        servers = [
            _node(tmp_path / f"n{i}", database_url, prefix, instance) for i, instance in enumerate(instances)
        ]
        await anyio.to_thread.run_sync(start_all, servers)
        first, second = servers
        try:
            s = session()
            # The first client makes node `first` the owner; the second is tunnelled there.
            async with term_client(term_url(first, s)) as owner_side:
                await owner_side.read_until(b"$ ")
                async with term_client(term_url(second, s)) as tunnelled:
                    await tunnelled.read_until(b"$ ")
                    assert first.proc is not None
                    first.proc.kill()  # kill -9: no goodbye, no lease release
                    code, _ = await tunnelled.closed(within=20)
                    assert code == 1012
            # Reconnect through the survivor: it takes the dead owner's lease and runs the terminal.
            async with term_client(term_url(second, s)) as again:
                await again.read_until(b"$ ", within=30)
                await again.send_input("echo alive-$((3*3))\n")
                await again.read_until(b"alive-9")
        finally:
            await anyio.to_thread.run_sync(stop_all, servers)
            for instance in instances:
                await remove_containers(instance)


async def test_bad_input_through_a_tunnel_gets_the_owners_answers(nodes: list[TandemServer]) -> None:
    a, b = nodes
    s = session()
    # A foreign page is refused on the entry node, before anything is tunnelled.
    with pytest.raises(InvalidStatus):
        url = term_url(b, s)
        async with connect(url, origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    async with SignalClient.connect(a.http_url, s) as owner_side, SignalClient.connect(b.http_url, s) as pb:
        await pb.send_raw("{not json")
        assert (await pb.expect("error"))["code"] == "bad_message"
        await pb.send_raw("x" * 70_000)  # over the signaling limit, still one error back
        assert (await pb.expect("error"))["code"] == "too_big"
        await pb.send(type="offer", to=owner_side.id, sdp="v=0\r\n")  # the connection lives on
        assert (await owner_side.expect("offer"))["from"] == pb.id
    # Garbage on a tunnelled terminal closes that client with the owner's code, 4400.
    async with term_client(term_url(b, s)) as bad:
        await bad.read_until(b"$ ", within=30)
        await bad.ws.send("{not a control message")
        code, _ = await bad.closed()
        assert code == 4400

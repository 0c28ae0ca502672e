"""Media end to end through Tandem, all on 127.0.0.1: an aiortc publisher whose frames carry their
number -> the relay (encoded frames forwarded, never re-encoded) -> aiortc viewers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import pytest

from tests.access_client import Http
from tests.rtcpeers import CounterTrack, Publisher, Viewer, loopback_only, new_pc, vp8_only
from tests.signalclient import SignalClient
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.anyio

ENV = {"TANDEM_SANDBOX": "off", "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]'}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    loopback_only()
    with running_server(tmp_path_factory.mktemp("media"), None, env=ENV) as server:
        yield server


def room() -> str:
    return f"media-{uuid.uuid4().hex[:8]}"


async def test_relay_forwards_to_three_viewers(srv: TandemServer) -> None:
    s = room()
    async with (
        SignalClient.connect(srv.http_url, s) as sharer,
        SignalClient.connect(srv.http_url, s) as c1,
        SignalClient.connect(srv.http_url, s) as c2,
        SignalClient.connect(srv.http_url, s) as c3,
    ):
        await sharer.send(type="share", on=True)
        viewers = [Viewer(c, sharer.id) for c in (c1, c2, c3)]
        for v in viewers:  # subscribed before the publisher arrives: frames flow once it does
            await v.subscribe()
        publisher = Publisher(sharer, CounterTrack(fps=15))
        async with anyio.create_task_group() as tg:
            for v in viewers:
                tg.start_soon(v.consume)
            await publisher.publish()
            with anyio.fail_after(5):
                for v in viewers:
                    await v.first_frame.wait()
            first = publisher.track.count
            await anyio.sleep(3)
            last = publisher.track.count - 3  # the newest frames may still be in flight
            tg.cancel_scope.cancel()
        expected = set(range(first, last))
        for v in viewers:
            got = expected & set(v.received)
            assert len(got) >= 0.8 * len(expected), (len(got), len(expected))
            assert v.sizes == {(320, 240)}  # the original stream, untouched
            await v.close()
        await publisher.close()


async def test_a_late_joiner_gets_a_keyframe_within_two_seconds(srv: TandemServer) -> None:
    s = room()
    async with SignalClient.connect(srv.http_url, s) as sharer, SignalClient.connect(srv.http_url, s) as late:
        publisher = Publisher(sharer, CounterTrack(fps=15))
        await publisher.publish()
        with anyio.fail_after(5):  # aiortc's encoder makes keyframes only when asked (gop 3000)
            while publisher.track.count < 20:
                await anyio.sleep(0.05)
        viewer = Viewer(late, sharer.id)
        async with anyio.create_task_group() as tg:
            await viewer.subscribe()
            tg.start_soon(viewer.consume)
            with anyio.fail_after(2):
                await viewer.first_frame.wait()
            tg.cancel_scope.cancel()
        assert viewer.first_at - viewer.started_at < 2.0
        assert min(viewer.received) >= 15  # it started mid-stream, on a fresh keyframe
        await viewer.close()
        await publisher.close()


async def test_the_light_tier_is_small_and_slow(srv: TandemServer) -> None:
    s = room()
    async with (
        SignalClient.connect(srv.http_url, s) as sharer,
        SignalClient.connect(srv.http_url, s) as phone,
    ):
        publisher = Publisher(sharer, CounterTrack(width=640, height=480, fps=15))
        await publisher.publish()
        viewer = Viewer(phone, sharer.id, light=True)
        async with anyio.create_task_group() as tg:
            await viewer.subscribe()
            tg.start_soon(viewer.consume)
            with anyio.fail_after(4):
                await viewer.first_frame.wait()
            start = len(viewer.received)
            await anyio.sleep(2)
            frames = len(viewer.received) - start
            tg.cancel_scope.cancel()
        assert viewer.sizes == {(480, 360)}
        assert 3 <= frames <= 12  # about light_fps=4 per second, not 15
        await viewer.close()
        await publisher.close()


async def test_a_vanished_sharer_is_cleaned_up(srv: TandemServer) -> None:
    s = room()
    async with SignalClient.connect(srv.http_url, s) as watcher:
        async with SignalClient.connect(srv.http_url, s) as sharer:
            publisher = Publisher(sharer, CounterTrack(fps=10))
            await publisher.publish()
            viewer = Viewer(watcher, sharer.id)
            await viewer.subscribe()
            async with anyio.create_task_group() as tg:
                tg.start_soon(viewer.consume)
                with anyio.fail_after(4):
                    await viewer.first_frame.wait()
                await sharer.ws.close()
                await watcher.expect("sharing", lambda m: m["from"] == sharer.id and not m["on"])
                with anyio.fail_after(10):
                    while viewer.pc.connectionState not in ("closed", "failed"):
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
            await publisher.close()
            await viewer.close()


@pytest.fixture(scope="module")
def auth_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with running_server(tmp_path_factory.mktemp("media-auth"), None, auth=True, env=ENV) as server:
        yield server


async def test_a_viewer_role_cannot_publish(auth_srv: TandemServer) -> None:
    owner = Http(auth_srv.http_url)
    owner.signup(f"owner-{uuid.uuid4().hex[:6]}", "correct horse battery")
    sid = owner.post("/api/sessions", json={"title": "share"}).json()["id"]
    token = owner.post(f"/api/sessions/{sid}/links", json={"role": "viewer"}).json()["token"]
    async with SignalClient.connect(auth_srv.http_url, sid, token=token) as viewer:
        pc = new_pc()
        pc.addTransceiver(CounterTrack(), direction="sendonly")
        vp8_only(pc)
        await pc.setLocalDescription(await pc.createOffer())
        await viewer.send(type="offer", to="relay", stream=viewer.id, sdp=pc.localDescription.sdp)
        assert (await viewer.expect("error"))["code"] == "forbidden"
        assert not [m for m in await viewer.nothing(0.3) if m["type"] == "answer"]
        await pc.close()

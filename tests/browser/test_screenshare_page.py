"""Screen share in the page: headless Chromium shares a fake screen (`getDisplayMedia`) through Tandem's
signaling; the relay feeds an aiortc viewer, a second page watches over the mesh, a phone gets the
light tier. The servers, browsers and aiortc peers of this module share a network namespace that has
only `lo` (tests/netns.py), and every ICE candidate signaled is 127.0.0.1."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiortc.mediastreams import MediaStreamError
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.browser.conftest import HERE, run_scenario
from tests.netns import loopback_netns
from tests.rtcpeers import Viewer, loopback_only
from tests.signalclient import SignalClient
from tests.support import TandemServer, eventually, running_server

pytestmark = pytest.mark.browser

SCRIPT = "screenshare.mjs"
ENV = {"TANDEM_SANDBOX": "off", "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]'}
NETNS_FLAG = "TANDEM_TEST_LOOPBACK_NETNS"  # the scenarios then check every ICE pair is 127.0.0.1
MIN_FRAMES = 30  # decoded by the aiortc viewer


@pytest.fixture(scope="module")
def isolated(built_web: Path) -> Iterator[bool]:
    """Enter a loopback-only network namespace for this module (after the build, which may use npm)."""
    with loopback_netns() as ok:
        if not ok:
            print("screen share page tests: no network namespace (needs root); loopback candidates only")
        os.environ[NETNS_FLAG] = "1" if ok else "0"
        try:
            yield ok
        finally:
            del os.environ[NETNS_FLAG]


@pytest.fixture(scope="module")
def share_server(isolated: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """The default topology: mesh for up to 3 viewers, the relay beyond or for the light tier."""
    with running_server(tmp_path_factory.mktemp("share"), None, auth=True, env=ENV) as srv:
        yield srv


@pytest.fixture(scope="module")
def relay_server(isolated: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """No mesh at all: a share moves to the relay with its first viewer."""
    env = {**ENV, "TANDEM_SCREENSHARE_MESH_MAX_VIEWERS": "0"}
    with running_server(tmp_path_factory.mktemp("share-relay"), None, auth=True, env=env) as srv:
        yield srv


async def _decode(viewer: Viewer, frames: list[tuple[int, int]]) -> None:
    """Every frame the viewer decodes (its size), until the track ends."""
    receiver = next(t.receiver for t in viewer.pc.getTransceivers() if t.kind == "video")
    try:
        while True:
            frame = await receiver.track.recv()
            frames.append((frame.width, frame.height))
    except MediaStreamError:
        pass


async def _line(out: BufferedByteReceiveStream) -> dict[str, Any]:
    return dict(json.loads(await out.receive_until(b"\n", 1 << 20)))


async def _driven(
    name: str, server: TandemServer, log: Path, step: Callable[[dict[str, Any]], Awaitable[None]]
) -> dict[str, Any]:
    """Run scenario `name` (it creates its session through the UI); when its page is sharing (a
    `ready` line with the session and a viewer link's token for the driver), run `step`, then
    tell the scenario `done` and return its summary."""
    cmd = ["node", str(HERE / SCRIPT), name, server.http_url]
    with open(log, "wb") as stderr:
        async with await anyio.open_process(cmd, cwd=HERE, stderr=stderr) as proc:
            assert proc.stdout is not None and proc.stdin is not None
            out = BufferedByteReceiveStream(proc.stdout)
            try:
                with anyio.fail_after(90):
                    ready = await _line(out)
                assert ready["ready"] is True and ready["room"] and ready["sharer"], ready
                await step(ready)
                await proc.stdin.send(b"done\n")
                await proc.stdin.aclose()
                with anyio.fail_after(90):
                    summary = await _line(out)
                    await proc.wait()
            except (anyio.EndOfStream, anyio.IncompleteRead, TimeoutError) as exc:
                pytest.fail(f"scenario {name}: {exc!r}\n{log.read_text()}")
            finally:
                if proc.returncode is None:
                    proc.kill()
    assert proc.returncode == 0 and summary["ok"], log.read_text()
    return summary


@pytest.mark.anyio
async def test_page_share_reaches_an_aiortc_viewer_through_the_relay(
    relay_server: TandemServer, tmp_path: Path
) -> None:
    loopback_only()
    frames: list[tuple[int, int]] = []
    waited: list[float] = []

    async def watch_through_the_relay(ready: dict[str, Any]) -> None:
        async with SignalClient.connect(relay_server.http_url, ready["room"], token=ready["token"]) as client:
            sharer = next(p for p in client.welcome["peers"] if p["id"] == ready["sharer"])
            assert sharer["sharing"] and sharer["name"] == "Alice", sharer
            await client.send(type="watch", to=sharer["id"], on=True)
            switch = await client.expect("sharing", lambda m: m["from"] == sharer["id"], timeout=15)
            assert switch["mode"] == "relay", switch
            viewer = Viewer(client, sharer["id"])
            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                await viewer.subscribe()
                tg.start_soon(_decode, viewer, frames)
                await eventually(lambda: frames, timeout=60, what="a first frame from the page")
                waited.append(time.monotonic() - started)
                await eventually(lambda: len(frames) >= MIN_FRAMES, timeout=60, what=f"{MIN_FRAMES} frames")
                tg.cancel_scope.cancel()
            await viewer.close()

    summary = await _driven("relay", relay_server, tmp_path / "relay.log", watch_through_the_relay)
    assert summary["bytesSent"] > 0, summary
    width, height = frames[-1]
    assert width >= 320 and height >= 180, frames[-1]  # the page's screen, forwarded as sent
    print(f"aiortc viewer: {len(frames)} frames of {width}x{height}, first after {waited[0]:.2f}s")


@pytest.mark.anyio
async def test_pages_reconnect_and_resume_the_share_after_a_server_restart(
    isolated: bool, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    with running_server(tmp_path_factory.mktemp("share-restart"), None, auth=True, env=ENV) as srv:

        async def restart(ready: dict[str, Any]) -> None:
            srv.stop()
            srv.start()  # same port; here, not in a worker thread (that one is outside the namespace)

        summary = await _driven("restart", srv, tmp_path / "restart.log", restart)
    assert summary["after"] != summary["before"], summary


def test_two_pages_mesh_follow_presence_and_stop(share_server: TandemServer) -> None:
    result = run_scenario("mesh", share_server.http_url, script=SCRIPT)
    print("mesh:", result)


def test_two_sharers_watch_each_other(share_server: TandemServer) -> None:
    run_scenario("mutual", share_server.http_url, script=SCRIPT)


def test_phone_viewer_watches_the_light_tier_by_default(share_server: TandemServer) -> None:
    result = run_scenario("phone", share_server.http_url, script=SCRIPT)
    print("phone:", result)


def test_viewer_role_has_no_share_button_but_watches(share_server: TandemServer) -> None:
    run_scenario("viewer", share_server.http_url, script=SCRIPT)

"""The aiortc internals the relay relies on (aiortc pinned to 1.16.0, kept in
signaling._compat.aiortc): if an upgrade moves them, these fail first, naming what moved."""

from __future__ import annotations

from fractions import Fraction
from importlib.metadata import version

import anyio
import av
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import Vp8Encoder

from signaling._compat.aiortc import _TapQueue
from signaling.errors import RelayError
from signaling.forward import Fanout, ForwardTrack, is_vp8_keyframe

pytestmark = pytest.mark.anyio


def encoded_frames(n: int) -> list[bytes]:
    """Real VP8 frames from libvpx (as aiortc's encoder configures it): a keyframe, then deltas."""
    import numpy as np

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"  # type: ignore[attr-defined]
    codec.options = {"deadline": "realtime", "lag-in-frames": "0"}
    out = []
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 9 % 255, np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, 15)
        out.extend(bytes(p) for p in codec.encode(frame))  # type: ignore[attr-defined]
    return out


def test_the_pinned_internals_exist() -> None:
    assert version("aiortc") == "1.16.0" and version("aioice") == "0.13.0"
    # Each check on its own: joined with `or`, one moving would go unnoticed.
    assert "_RTCRtpReceiver__decoder_queue" in RTCRtpReceiver.__init__.__code__.co_names
    assert "_RTCRtpReceiver__decoder_thread" in RTCRtpReceiver.__init__.__code__.co_names
    assert callable(RTCRtpSender._send_keyframe)
    assert callable(RTCRtpReceiver._send_rtcp_pli)
    assert callable(Vp8Encoder.pack)
    import aioice.ice

    assert callable(aioice.ice.get_host_addresses)


def test_vp8_keyframes_are_recognized() -> None:
    frames = encoded_frames(3)
    assert is_vp8_keyframe(frames[0])
    assert not any(is_vp8_keyframe(f) for f in frames[1:])
    assert not is_vp8_keyframe(b"")


def test_the_tap_hands_frames_over_and_stops_cleanly() -> None:
    got: list[tuple[bytes, int]] = []
    tap = _TapQueue(lambda data, ts: got.append((data, ts)))

    class Encoded:
        data, timestamp = b"abc", 42

    tap.put((None, Encoded()))
    tap.put(None)
    assert got == [(b"abc", 42)] and tap.get() is None


async def test_a_started_receiver_cannot_be_tapped() -> None:
    from signaling._compat.aiortc import tap_receiver

    class Started:
        _RTCRtpReceiver__decoder_queue = None
        _RTCRtpReceiver__decoder_thread = object()

    with pytest.raises(RelayError):
        tap_receiver(Started(), lambda d, t: None)  # type: ignore[arg-type]


async def test_a_forward_track_waits_for_a_keyframe_and_drops_on_overflow() -> None:
    key, delta = encoded_frames(2)
    track = ForwardTrack(max_frames=3)
    assert not track.push(delta, 0, False)  # no keyframe yet: nothing queued
    assert track.push(key, 3000, True)
    for i in range(2):
        assert track.push(delta, 6000 + i * 3000, False)
    assert not track.push(delta, 20000, False)  # full: the backlog goes, wait for a keyframe
    assert track.dropped == 3 and track.need_keyframe
    assert track.push(key, 23000, True)
    packet = await track.recv()
    assert bytes(packet) == key and packet.pts == 23000 and packet.time_base == Fraction(1, 90_000)
    track.stop()


async def test_fanout_asks_the_publisher_for_a_keyframe_for_a_new_viewer() -> None:
    key, delta = encoded_frames(2)
    asked = anyio.Event()

    async def pli() -> None:
        asked.set()

    fanout = Fanout(keyframe_interval=0.05)
    async with anyio.create_task_group() as tg:
        tg.start_soon(fanout.run)
        fanout.set_publisher(pli)
        track = ForwardTrack(4)
        fanout.add(track)
        fanout.feed(delta, 0)
        with anyio.fail_after(2):
            await asked.wait()
        fanout.feed(key, 3000)
        assert (await track.recv()).pts == 3000
        tg.cancel_scope.cancel()

"""Forwarding ENCODED video frames from one aiortc receiver to many senders, never re-encoding.

Relies on aiortc internals, pinned (aiortc==1.16.0) and covered by tests/test_relay_internals.py:
- `RTCRtpReceiver._RTCRtpReceiver__decoder_queue`: every reassembled frame (a `JitterFrame`) is put
  there for the decoder thread. `tap_receiver` swaps in a queue that hands frames to the fan-out on
  the event loop instead, so nothing is decoded; the idle decoder thread only waits for the stop.
- `RTCRtpSender._send_keyframe()`: what a viewer's PLI/FIR calls; replaced per sender so the request
  goes to the publisher (an encoded frame cannot be "forced" into a keyframe here).
- A track whose `recv()` returns `av.Packet` is packetized by the sender's `Vp8Encoder.pack()`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import anyio
import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from signaling.errors import RelayError

log = logging.getLogger("tandem.relay")

VIDEO_TIME_BASE = Fraction(1, 90_000)
FrameSink = Callable[[bytes, int], None]  # (encoded VP8 frame, 90 kHz timestamp)


def is_vp8_keyframe(data: bytes) -> bool:
    # RFC 6386 9.1: P bit 0 = key frame, then the start code 9d 01 2a.
    return len(data) >= 10 and not (data[0] & 0x01) and data[3:6] == b"\x9d\x01\x2a"


class _TapQueue:
    """Stands in for the receiver's decoder queue: `put` runs on the event loop thread."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._stopped = threading.Event()

    def put(self, item: Any) -> None:
        if item is None:  # the receiver stops: let the (idle) decoder thread finish
            self._stopped.set()
            return
        _codec, encoded = item
        self._sink(bytes(encoded.data), int(encoded.timestamp))

    def get(self) -> None:
        self._stopped.wait()
        return None


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Route `receiver`'s encoded frames to `sink`. Must run before the receiver starts (that is,
    after `setRemoteDescription(offer)` and before `setLocalDescription(answer)`)."""
    if not hasattr(receiver, "_RTCRtpReceiver__decoder_queue"):
        raise RelayError("this aiortc version has no decoder queue to tap (pinned: 1.16.0)")
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RelayError("the receiver already started decoding")
    receiver._RTCRtpReceiver__decoder_queue = _TapQueue(sink)  # type: ignore[attr-defined]


def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """A viewer's PLI/FIR on `sender` calls `on_request` instead of forcing a (re-)encode."""
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RelayError("this aiortc version has no RTCRtpSender._send_keyframe (pinned: 1.16.0)")
    sender._send_keyframe = on_request  # type: ignore[method-assign]


class ForwardTrack(MediaStreamTrack):
    """One viewer's video: encoded frames in, `av.Packet`s out. Bounded: on overflow the backlog is
    dropped and the track waits for the next keyframe (asked of the publisher) instead of stalling."""

    kind = "video"

    def __init__(self, max_frames: int) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue(max_frames)
        self.need_keyframe = True  # a decoder can only start on one
        self.forwarded = 0
        self.dropped = 0
        self._offset = 0
        self._last_in: int | None = None
        self._last_out = 0

    def push(self, data: bytes, timestamp: int, key: bool) -> bool:
        """False while this viewer waits for a keyframe (the fan-out then asks the publisher)."""
        if self.readyState != "live":
            return True
        if self.need_keyframe and not key:
            return False
        if self._queue.full():
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            if not key:
                self.need_keyframe = True
                return False
        self.need_keyframe = False
        # Timestamps stay monotonic when the publisher reconnects (its clock restarts at 0).
        if self._last_in is not None and timestamp < self._last_in:
            self._offset = self._last_out + 3000 - timestamp
        self._last_in = timestamp
        self._last_out = timestamp + self._offset
        self._queue.put_nowait((data, self._last_out))
        return True

    async def recv(self) -> av.Packet:  # type: ignore[override]
        item = await self._queue.get()
        if item is None or self.readyState != "live":
            raise MediaStreamError
        data, timestamp = item
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = VIDEO_TIME_BASE
        self.forwarded += 1
        return packet

    def stop(self) -> None:
        super().stop()
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class Fanout:
    """One published stream's encoded frames to every viewer track (and the light tier's encoder).

    `feed` runs on the event loop (from the receiver tap). Keyframe requests to the publisher are
    coalesced to one per `keyframe_interval` and sent by `run` (owned by the relay's task group)."""

    def __init__(self, keyframe_interval: float) -> None:
        self.tracks: set[ForwardTrack] = set()
        self.sinks: list[FrameSink] = []  # raw taps (the light tier)
        self.frames = 0
        self.keyframe_requests = 0
        self._interval = keyframe_interval
        self._want_keyframe = anyio.Event()
        self._request: Callable[[], Any] | None = None  # async: PLI to the publisher

    def set_publisher(self, request: Callable[[], Any] | None) -> None:
        self._request = request
        if request is not None:
            self.request_keyframe()

    def feed(self, data: bytes, timestamp: int) -> None:
        self.frames += 1
        key = is_vp8_keyframe(data)
        waiting = False
        for track in list(self.tracks):
            if not track.push(data, timestamp, key):
                waiting = True
        for sink in list(self.sinks):
            sink(data, timestamp)
        if waiting:
            self.request_keyframe()

    def add(self, track: ForwardTrack) -> None:
        self.tracks.add(track)
        self.request_keyframe()  # a new viewer's decoder starts on the next keyframe

    def remove(self, track: ForwardTrack) -> None:
        self.tracks.discard(track)

    def request_keyframe(self) -> None:
        self._want_keyframe.set()

    async def run(self) -> None:
        while True:
            await self._want_keyframe.wait()
            self._want_keyframe = anyio.Event()
            if self._request is not None:
                self.keyframe_requests += 1
                try:
                    await self._request()
                except (ConnectionError, OSError) as exc:
                    log.debug("keyframe request failed: %s", exc)
            await anyio.sleep(self._interval)

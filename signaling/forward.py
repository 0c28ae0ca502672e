"""Forwarding ENCODED video frames from one aiortc receiver to many senders, never re-encoding.

The frames come from the receiver's tap and keyframe requests from the senders' hooks, both aiortc
internals kept in `signaling._compat.aiortc`. A track whose `recv()` returns `av.Packet` is
packetized by the sender's `Vp8Encoder.pack()` (public behaviour, covered by the relay's tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import anyio
import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger("tandem.relay")

VIDEO_TIME_BASE = Fraction(1, 90_000)
FrameSink = Callable[[bytes, int], None]  # (encoded VP8 frame, 90 kHz timestamp)


def is_vp8_keyframe(data: bytes) -> bool:
    # RFC 6386 9.1: P bit 0 = key frame, then the start code 9d 01 2a.
    return len(data) >= 10 and not (data[0] & 0x01) and data[3:6] == b"\x9d\x01\x2a"


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

    async def recv(self) -> av.Packet:
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

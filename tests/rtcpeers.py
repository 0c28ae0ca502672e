"""aiortc peers for the screen-share tests and the bench: a publisher whose synthetic video carries
a frame counter (16 white/black columns), and viewers that read it back. All on 127.0.0.1."""

from __future__ import annotations

import time
from fractions import Fraction

import anyio
import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

from signaling._compat.aioice import restrict_host_addresses
from tests.signalclient import SignalClient

BITS = 16


def loopback_only() -> None:
    restrict_host_addresses(["127.0.0.1"])  # aioice leaves 127.0.0.1 out by default


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))  # None would mean a public STUN server


def vp8_only(pc: RTCPeerConnection) -> None:
    caps = RTCRtpSender.getCapabilities("video").codecs
    prefs = [c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    for t in pc.getTransceivers():
        if t.kind == "video":
            t.setCodecPreferences(prefs)


class CounterTrack(VideoStreamTrack):
    """Frames whose columns spell their own number; `sent[n]` is when frame n left."""

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.count = 0
        self.sent: dict[int, float] = {}
        self._start: float | None = None
        self._background = (np.random.default_rng(1).random((height, width)) * 40).astype(np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        n = self.count
        self.count += 1
        wait = self._start + n / self.fps - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        image = np.roll(self._background, n * 4, axis=0)  # some motion, like scrolling code
        col = self.width // BITS
        for bit in range(BITS):
            if (n >> bit) & 1:
                image[:, bit * col + 2 : (bit + 1) * col - 2] = 235
        frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(format="yuv420p")
        frame.pts = int(n * 90_000 / self.fps)
        frame.time_base = Fraction(1, 90_000)
        self.sent[n] = time.monotonic()
        return frame


def read_counter(frame: av.VideoFrame) -> int:
    image = frame.to_ndarray(format="gray")
    h, w = image.shape
    col = w // BITS
    band = image[h // 4 : 3 * h // 4]
    n = 0
    for bit in range(BITS):
        if band[:, bit * col + col // 4 : (bit + 1) * col - col // 4].mean() > 140:
            n |= 1 << bit
    return n


class Publisher:
    def __init__(self, client: SignalClient, track: CounterTrack) -> None:
        self.client = client
        self.track = track
        self.pc = new_pc()

    async def publish(self) -> None:
        await self.client.send(type="share", on=True)
        self.pc.addTransceiver(self.track, direction="sendonly")
        vp8_only(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.client.send(
            type="offer", to="relay", stream=self.client.id, sdp=self.pc.localDescription.sdp
        )
        answer = await self.client.expect("answer", lambda m: m["from"] == "relay")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    """Subscribes to `stream` through the relay and records which counters arrived, and when."""

    def __init__(self, client: SignalClient, stream: str, light: bool = False) -> None:
        self.client = client
        self.stream = stream
        self.light = light
        self.pc = new_pc()
        self.received: dict[int, float] = {}
        self.sizes: set[tuple[int, int]] = set()
        self.first_frame = anyio.Event()
        self.started_at = 0.0
        self.first_at = 0.0

    async def subscribe(self) -> None:
        self.started_at = time.monotonic()
        self.pc.addTransceiver("video", direction="recvonly")
        vp8_only(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.client.send(
            type="offer", to="relay", stream=self.stream, light=self.light, sdp=self.pc.localDescription.sdp
        )
        answer = await self.client.expect("answer", lambda m: m["from"] == "relay")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def consume(self) -> None:
        """Read frames until the track ends (run it in a task group; cancel to stop)."""
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.kind == "video")
        try:
            while True:
                frame = await receiver.track.recv()
                now = time.monotonic()
                if not self.first_frame.is_set():
                    self.first_at = now
                    self.first_frame.set()
                self.sizes.add((frame.width, frame.height))
                self.received.setdefault(read_counter(frame), now)
        except MediaStreamError:
            pass

    async def close(self) -> None:
        await self.pc.close()

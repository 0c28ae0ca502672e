"""The light tier for phones and weak links: decoded once, scaled to 360p, encoded once at a few
frames per second, and forwarded to every viewer who asked for it (never one encode per viewer).

Frames of the full stream are queued as they arrive (a decoder needs every one of them), decoded
in one worker thread, and only the newest picture is encoded on each tick.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from signaling.forward import VIDEO_TIME_BASE, Fanout, is_vp8_keyframe

if TYPE_CHECKING:
    from signaling.relay import RelayConfig

log = logging.getLogger("tandem.relay.light")


class LightTier:
    def __init__(self, config: RelayConfig, source: Fanout) -> None:
        self.config = config
        self.source = source
        self.fanout = Fanout(config.keyframe_interval_seconds)
        self.encoded = 0
        self._pending: list[tuple[bytes, int]] = []
        self._max_pending = 64  # about 4 s of the full stream: beyond, restart on a keyframe
        self._decoder = av.CodecContext.create("libvpx", "r")
        self._encoder: VideoCodecContext | None = None
        self._force_key = True
        self._started = False
        self._scope = anyio.CancelScope()

    def _on_frame(self, data: bytes, timestamp: int) -> None:
        if not self._started:
            if not is_vp8_keyframe(data):
                self.source.request_keyframe()
                return
            self._started = True
        if len(self._pending) >= self._max_pending:
            self._pending.clear()
            self._started = False
            self.source.request_keyframe()
            return
        self._pending.append((data, timestamp))

    async def _force_keyframe(self) -> None:
        self._force_key = True

    def _decode(self, frames: list[tuple[bytes, int]]) -> av.VideoFrame | None:
        latest = None
        for data, timestamp in frames:
            packet = av.Packet(data)
            packet.pts = timestamp
            packet.time_base = VIDEO_TIME_BASE
            try:
                for decoded in self._decoder.decode(packet):
                    latest = decoded
            except av.FFmpegError as exc:
                log.debug("light tier: decode failed: %s", exc)
        return latest

    def _encode(self, picture: av.VideoFrame, timestamp: int, key: bool) -> list[bytes]:
        height = min(self.config.light_height, picture.height) // 2 * 2
        width = max(2, round(picture.width * height / picture.height / 2) * 2)
        frame = picture.reformat(width=width, height=height, format="yuv420p")
        frame.pts = timestamp
        frame.time_base = VIDEO_TIME_BASE
        if self._encoder is None or (self._encoder.width, self._encoder.height) != (width, height):
            enc = av.CodecContext.create("libvpx", "w")
            assert isinstance(enc, VideoCodecContext)
            enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
            enc.time_base = VIDEO_TIME_BASE
            enc.bit_rate = self.config.light_bitrate
            enc.gop_size = 3000
            enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
            enc.thread_count = 1
            self._encoder = enc
            key = True
        if key:
            frame.pict_type = PictureType.I
        return [bytes(p) for p in self._encoder.encode(frame)]

    async def run(self) -> None:
        self.source.sinks.append(self._on_frame)
        self.fanout.set_publisher(self._force_keyframe)
        self.source.request_keyframe()
        try:
            with self._scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.fanout.run)
                    await self._loop()
        finally:
            if self._on_frame in self.source.sinks:
                self.source.sinks.remove(self._on_frame)

    async def _loop(self) -> None:
        period = 1.0 / self.config.light_fps
        while True:
            await anyio.sleep(period)
            frames, self._pending = self._pending, []
            if not frames:
                continue
            picture = await anyio.to_thread.run_sync(self._decode, frames)
            if picture is None:
                continue
            key, self._force_key = self._force_key, False
            timestamp = frames[-1][1]
            for data in await anyio.to_thread.run_sync(self._encode, picture, timestamp, key):
                self.encoded += 1
                self.fanout.feed(data, timestamp)

    def stop(self) -> None:
        self._scope.cancel()

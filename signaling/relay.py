"""`AiortcRelay`: the `MediaRelay` built on aiortc. The sharer publishes once; each viewer gets the
same encoded VP8 frames (signaling.forward), keyframes on request; the light tier is encoded once.

One `_Stream` per share (session, sharer peer id): the publisher's connection, the fan-out, the
viewers' connections, the optional light tier; its keyframe loop is a task of the relay's group.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import anyio
import anyio.abc
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from aiortc.sdp import candidate_from_sdp

from signaling._compat import aiortc as aiortc_compat
from signaling._compat.aioice import restrict_host_addresses
from signaling._compat.aiortc import hook_keyframe_requests, tap_receiver
from signaling.errors import RelayError
from signaling.forward import Fanout, ForwardTrack
from signaling.light import LightTier
from signaling.types import Candidate

log = logging.getLogger("tandem.relay")


@dataclass(frozen=True)
class RelayConfig:
    ice_urls: list[str] = field(default_factory=list)  # the relay's own STUN (TURN is for browsers)
    host_addresses: list[str] = field(default_factory=list)  # [] = aioice's choice; tests: 127.0.0.1
    viewer_queue_frames: int = 30
    keyframe_interval_seconds: float = 0.25
    max_streams: int = 32
    max_viewers_per_stream: int = 200
    light_fps: float = 4.0
    light_height: int = 360
    light_bitrate: int = 250_000


@dataclass(eq=False)
class _Stream:
    session: str
    sharer: str
    fanout: Fanout
    scope: anyio.CancelScope
    publisher: RTCPeerConnection | None = None
    viewers: dict[str, RTCPeerConnection] = field(default_factory=dict)
    tracks: dict[str, ForwardTrack] = field(default_factory=dict)
    light: LightTier | None = None


def _vp8_transceiver(pc: RTCPeerConnection) -> RTCRtpTransceiver:
    """A video transceiver that negotiates VP8 only (and its retransmissions): forwarding needs one
    codec on both sides, and every browser and aiortc speak VP8. Made before `setRemoteDescription`,
    which then gives it the offer's first video section."""
    transceiver = pc.addTransceiver("video", direction="recvonly")
    caps = RTCRtpReceiver.getCapabilities("video")
    assert caps is not None  # None only for a kind other than audio/video
    vp8 = [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    transceiver.setCodecPreferences(vp8)
    return transceiver


async def _accept_offer(pc: RTCPeerConnection, sdp: str, what: str) -> RTCRtpTransceiver:
    """Apply a VP8 offer with exactly one video section; its transceiver. Other media go inactive."""
    _vp8_transceiver(pc)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
    except OperationError as exc:
        raise RelayError(f"screen share needs VP8 ({exc})") from exc
    video = [t for t in pc.getTransceivers() if t.kind == "video" and t.mid is not None]
    if len(video) != 1:
        raise RelayError(f"a {what} exactly one video track")
    for t in pc.getTransceivers():
        if t.kind != "video":
            t.direction = "inactive"  # audio is not relayed: never decoded, never queued
    return video[0]


class AiortcRelay:
    def __init__(self, config: RelayConfig, tg: anyio.abc.TaskGroup) -> None:
        self.config = config
        self._tg = tg
        aiortc_compat.check()  # another aiortc is refused here, loudly, not mid-share
        self.streams: dict[tuple[str, str], _Stream] = {}
        restrict_host_addresses(config.host_addresses)

    @classmethod
    @asynccontextmanager
    async def open(cls, config: RelayConfig) -> AsyncIterator[AiortcRelay]:
        async with anyio.create_task_group() as tg:
            relay = cls(config, tg)
            try:
                yield relay
            finally:
                with anyio.CancelScope(shield=True):
                    await relay.close()
                tg.cancel_scope.cancel()

    def _pc(self) -> RTCPeerConnection:
        servers = [RTCIceServer(urls=u) for u in self.config.ice_urls]
        return RTCPeerConnection(RTCConfiguration(iceServers=servers))  # [] : never a public default

    def _stream(self, session: str, sharer: str) -> _Stream:
        stream = self.streams.get((session, sharer))
        if stream is None:
            if len(self.streams) >= self.config.max_streams:
                raise RelayError("the relay carries as many shares as it may")
            fanout = Fanout(self.config.keyframe_interval_seconds)
            stream = _Stream(session, sharer, fanout, anyio.CancelScope())
            self.streams[(session, sharer)] = stream
            self._tg.start_soon(self._run_stream, stream)
        return stream

    async def _run_stream(self, stream: _Stream) -> None:
        with stream.scope:
            await stream.fanout.run()

    async def _answer(self, pc: RTCPeerConnection) -> str:
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # aiortc gathers every candidate first (no trickle)
        return pc.localDescription.sdp

    async def publish(self, session: str, stream_id: str, sdp: str) -> str:
        stream = self._stream(session, stream_id)
        if stream.publisher is not None:
            await stream.publisher.close()
            stream.fanout.set_publisher(None)
        pc = self._pc()
        stream.publisher = pc
        try:
            video = await _accept_offer(pc, sdp, "share publishes")
            video.direction = "recvonly"
            receiver = video.receiver
            tap_receiver(receiver, stream.fanout.feed)
            stream.fanout.set_publisher(partial(aiortc_compat.send_pli, receiver))
            return await self._answer(pc)
        except (ValueError, RelayError) as exc:
            await self.unpublish(session, stream_id)
            raise RelayError(f"publish refused: {exc}") from exc

    async def subscribe(self, session: str, stream_id: str, viewer: str, sdp: str, light: bool) -> str:
        stream = self._stream(session, stream_id)
        await self._drop_viewer(stream, viewer)
        if len(stream.viewers) >= self.config.max_viewers_per_stream:
            raise RelayError("this share has as many viewers as the relay may carry")
        pc = self._pc()
        track = ForwardTrack(self.config.viewer_queue_frames)
        stream.viewers[viewer] = pc
        stream.tracks[viewer] = track
        try:
            video = await _accept_offer(pc, sdp, "viewer receives")
            sender = pc.addTrack(track)
            video.direction = "sendonly"
            if light:
                if stream.light is None:
                    stream.light = LightTier(self.config, stream.fanout)
                    self._tg.start_soon(stream.light.run)
                source: Fanout = stream.light.fanout
            else:
                source = stream.fanout
            hook_keyframe_requests(sender, source.request_keyframe)
            source.add(track)
            return await self._answer(pc)
        except (ValueError, RelayError) as exc:
            await self._drop_viewer(stream, viewer)
            raise RelayError(f"subscribe refused: {exc}") from exc

    async def add_candidate(
        self, session: str, peer: str, stream_id: str, candidate: Candidate | None
    ) -> None:
        stream = self.streams.get((session, stream_id))
        if stream is None:
            return  # a late candidate of a connection already gone
        pc = stream.publisher if peer == stream_id else stream.viewers.get(peer)
        if pc is None or candidate is None or not candidate.candidate:
            return  # aiortc needs no end-of-candidates
        try:
            c = candidate_from_sdp(candidate.candidate.removeprefix("candidate:"))
        except (ValueError, IndexError) as exc:
            raise RelayError(f"bad ICE candidate: {exc}") from exc
        c.sdpMid = candidate.sdp_mid
        c.sdpMLineIndex = candidate.sdp_mline_index
        await pc.addIceCandidate(c)

    async def _drop_viewer(self, stream: _Stream, viewer: str) -> None:
        track = stream.tracks.pop(viewer, None)
        if track is not None:
            stream.fanout.remove(track)
            if stream.light is not None:
                stream.light.fanout.remove(track)
                if not stream.light.fanout.tracks:
                    stream.light.stop()
                    stream.light = None
            track.stop()
        pc = stream.viewers.pop(viewer, None)
        if pc is not None:
            await pc.close()

    async def unpublish(self, session: str, stream_id: str) -> None:
        stream = self.streams.pop((session, stream_id), None)
        if stream is None:
            return
        stream.scope.cancel()
        if stream.light is not None:
            stream.light.stop()
        for viewer in list(stream.viewers):
            await self._drop_viewer(stream, viewer)
        if stream.publisher is not None:
            await stream.publisher.close()

    async def drop_peer(self, session: str, peer: str) -> None:
        await self.unpublish(session, peer)
        for (s, _), stream in list(self.streams.items()):
            if s == session and peer in stream.viewers:
                await self._drop_viewer(stream, peer)

    async def close(self) -> None:
        for session, sharer in list(self.streams):
            await self.unpublish(session, sharer)

    def stats(self) -> dict[str, object]:
        return {
            f"{s}/{sharer}": {
                "frames": st.fanout.frames,
                "viewers": len(st.viewers),
                "keyframe_requests": st.fanout.keyframe_requests,
                "forwarded": {v: t.forwarded for v, t in st.tracks.items()},
            }
            for (s, sharer), st in self.streams.items()
        }

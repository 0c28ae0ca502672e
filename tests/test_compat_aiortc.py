"""aiortc internals (signaling/_compat/aiortc.py) and the public codec choice of the relay: another
aiortc is refused loudly, the PLI internal still exists with the signature used, and codec
preferences set before `setRemoteDescription` leave VP8 only (or refuse an offer without it)."""

from __future__ import annotations

import inspect

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from signaling._compat import aiortc as aiortc_compat
from signaling.errors import RelayError
from signaling.relay import AiortcRelay, RelayConfig
from tests.rtcpeers import CounterTrack

pytestmark = pytest.mark.anyio


def test_the_installed_aiortc_is_the_tested_one() -> None:
    aiortc_compat.check()


def test_another_aiortc_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc_compat, "TESTED", ("aiortc", "1.17", "1.18"))
    with pytest.raises(RelayError, match="outside the tested range"):
        aiortc_compat.check()
    with pytest.raises(RelayError, match="outside the tested range"):
        aiortc_compat.hook_keyframe_requests(object(), lambda: None)  # type: ignore[arg-type]


def test_the_pli_internal_takes_a_media_ssrc() -> None:
    params = list(inspect.signature(RTCRtpReceiver._send_rtcp_pli).parameters)
    assert params == ["self", "media_ssrc"]


async def offer(*codecs: str) -> str:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(CounterTrack(), direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() in codecs])
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def video_codecs(sdp: str) -> set[str]:
    rtpmaps = [line for line in sdp.splitlines() if line.startswith("a=rtpmap:")]
    return {line.split()[1].split("/")[0].lower() for line in rtpmaps}


async def test_the_answer_carries_vp8_only() -> None:
    config = RelayConfig(host_addresses=["127.0.0.1"])
    async with AiortcRelay.open(config) as relay:
        both = await offer("video/h264", "video/vp8")
        assert {"vp8", "h264"} <= video_codecs(both)
        answer = await relay.publish("s", "sharer", both)
    assert video_codecs(answer) <= {"vp8", "rtx"} and "vp8" in video_codecs(answer)


async def test_an_offer_without_vp8_is_refused() -> None:
    config = RelayConfig(host_addresses=["127.0.0.1"])
    async with AiortcRelay.open(config) as relay:
        with pytest.raises(RelayError, match="needs VP8"):
            await relay.publish("s", "sharer", await offer("video/h264"))
        assert not relay.streams

"""aiortc internals the relay relies on (tested on aiortc 1.16), each behind one function here:

- `RTCRtpReceiver._RTCRtpReceiver__decoder_queue`: every reassembled frame (a `JitterFrame`) is put
  there for the decoder thread. `tap_receiver` swaps in a queue that hands frames to the fan-out on
  the event loop instead, so nothing is decoded; the idle decoder thread only waits for the stop.
- `RTCRtpSender._send_keyframe()`: what a viewer's PLI/FIR calls; `hook_keyframe_requests` replaces
  it per sender so the request goes to the publisher (an encoded frame cannot be "forced" into a
  keyframe here).
- `RTCRtpReceiver._send_rtcp_pli(ssrc)`: asks the publisher for a keyframe (`send_pli`).

Codec choice uses the public `setCodecPreferences` (signaling.relay). Each entry point checks the
version first: another aiortc version is refused with a `RelayError` naming the pin.
Tests: tests/test_compat_aiortc.py and tests/test_relay_internals.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender

from signaling._compat import require
from signaling.errors import RelayError

TESTED = ("aiortc", "1.16", "1.17")
FrameSink = Callable[[bytes, int], None]  # (encoded VP8 frame, 90 kHz timestamp)
_QUEUE = "_RTCRtpReceiver__decoder_queue"
_THREAD = "_RTCRtpReceiver__decoder_thread"


def check() -> None:
    """Refuse (RelayError) unless the installed aiortc is the tested one."""
    require(*TESTED)


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
    check()
    if not hasattr(receiver, _QUEUE):
        raise RelayError("this aiortc version has no decoder queue to tap (pinned: 1.16.0)")
    if getattr(receiver, _THREAD, None) is not None:
        raise RelayError("the receiver already started decoding")
    setattr(receiver, _QUEUE, _TapQueue(sink))


def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """A viewer's PLI/FIR on `sender` calls `on_request` instead of forcing a (re-)encode."""
    check()
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RelayError("this aiortc version has no RTCRtpSender._send_keyframe (pinned: 1.16.0)")
    sender._send_keyframe = on_request  # type: ignore[method-assign]


async def send_pli(receiver: RTCRtpReceiver) -> None:
    """Ask the publisher behind `receiver` for a keyframe (nothing before its first packet)."""
    sources = receiver.getSynchronizationSources()
    if sources:
        await receiver._send_rtcp_pli(sources[-1].source)

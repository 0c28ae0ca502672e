"""WebRTC signaling for screen share, and the aiortc media relay (see README.md).

`backend` wires this package in; it never imports `backend` (what it consumes is in `types.py`).
"""

from signaling.errors import RelayError, SignalingError
from signaling.hub import Participant, SignalingHub
from signaling.ice import IceConfig
from signaling.types import MediaRelay, Outbox

__all__ = [
    "IceConfig",
    "MediaRelay",
    "Outbox",
    "Participant",
    "RelayError",
    "SignalingError",
    "SignalingHub",
]

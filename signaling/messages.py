"""The signaling wire protocol: typed JSON messages, parsed once (pydantic discriminated unions).

Peer ids are server-assigned; `to` names a peer of the same session or `relay` (the media relay).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from signaling.errors import MessageError, MessageTooBigError
from signaling.sdp import SdpError, parse_sdp, sends_media

RELAY = "relay"  # the `to`/`from` of the media relay
PeerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _strict_sdp(text: str) -> str:
    parse_sdp(text)  # SdpError (a ValueError) becomes this message's validation error
    return text


# Parsed strictly on arrival (signaling.sdp): what the role check reads is what a browser reads.
Sdp = Annotated[str, Field(min_length=1, max_length=64 * 1024), AfterValidator(_strict_sdp)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IceCandidate(_Msg):
    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


# Client -> server.
class Join(_Msg):
    type: Literal["join"]


class Leave(_Msg):
    type: Literal["leave"]


class Share(_Msg):
    """Start (`on`) or stop sharing this participant's screen: needs the `share_screen` permission."""

    type: Literal["share"]
    on: bool


class Watch(_Msg):
    """Start or stop watching `to`'s share; `light`: the low-bandwidth tier (phones, weak links)."""

    type: Literal["watch"]
    to: PeerId
    on: bool = True
    light: bool = False


class Offer(_Msg):
    type: Literal["offer"]
    to: PeerId
    sdp: Sdp
    stream: PeerId | None = None  # to the relay: whose share (your own id: publish)
    light: bool = False


class Answer(_Msg):
    type: Literal["answer"]
    to: PeerId
    sdp: Sdp
    stream: PeerId | None = None


class CandidateMsg(_Msg):
    type: Literal["candidate"]
    to: PeerId
    candidate: IceCandidate | None  # null: end of candidates
    stream: PeerId | None = None


ClientMessage = Annotated[
    Join | Leave | Share | Watch | Offer | Answer | CandidateMsg, Field(discriminator="type")
]
_client = TypeAdapter(ClientMessage)


def parse_client_message(text: str, max_bytes: int) -> ClientMessage:
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise MessageTooBigError(f"messages are at most {max_bytes} bytes")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MessageError("not JSON") from exc
    try:
        return _client.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise MessageError(f"{where}: {first['msg']}") from exc


def frame(type_: str, **fields: Any) -> str:
    """A server -> client message (`peers`, `join`, `leave`, `sharing`, `watch`, `offer`, `answer`,
    `candidate`, `error`): built only here and in the hub, from values the server owns."""
    return json.dumps({"type": type_, **{k: v for k, v in fields.items() if v is not None}})


def error_frame(code: str, message: str, ref: str | None = None) -> str:
    return frame("error", code=code, message=message, ref=ref)


def sends_video(sdp: str) -> bool:
    """Whether an SDP offers/answers to send media (any non-data section sendrecv/sendonly).

    Only roles allowed to share may send media, to the relay or to another browser. A malformed
    SDP is a `MessageError` (messages are parsed strictly on arrival, so this is a safety net)."""
    try:
        return sends_media(sdp)
    except SdpError as exc:
        raise MessageError(f"sdp: {exc}") from exc

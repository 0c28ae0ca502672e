"""Exceptions of the signaling package."""


class SignalingError(Exception):
    """Base of every error the signaling package raises on purpose. `code` goes out in `error`."""

    code = "bad_message"


class MessageError(SignalingError):
    """A frame is not valid JSON, not a known message, or out of bounds."""

    code = "bad_message"


class MessageTooBigError(SignalingError):
    code = "too_big"


class NotJoinedError(SignalingError):
    code = "not_joined"


class UnknownPeerError(SignalingError):
    code = "unknown_peer"


class ForbiddenError(SignalingError):
    """The participant's role may not do this (publish, share)."""

    code = "forbidden"


class MessageRateError(SignalingError):
    """A peer sends more messages per second than `signal_messages_per_second`."""

    code = "rate_limited"


class RelayError(SignalingError):
    """The media relay refused or failed a negotiation."""

    code = "relay_error"

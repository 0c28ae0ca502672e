"""Every WebSocket close code Tandem sends, and which error closes a channel with which code
(`close_for`), in one place (see the README's table)."""

from typing import Final

from backend import errors
from sandbox import errors as sandbox_errors
from signaling import errors as signaling_errors

NORMAL: Final = 1000
GOING_AWAY: Final = 1001  # server shutting down, no other node to go to
UNSUPPORTED_DATA: Final = 1003  # a text frame on a binary channel
POLICY_VIOLATION: Final = 1008  # sent before accept: the client sees HTTP 403 (bad Origin, no credentials)
MESSAGE_TOO_BIG: Final = (
    1009  # frame over the limit, the client's send queue overflowed, or presence over its bounds
)
INTERNAL_ERROR: Final = 1011  # unexpected error: this client only, the room lives on
SERVICE_RESTART: Final = 1012  # shutting down: reconnect (to another node)
TRY_AGAIN_LATER: Final = 1013  # node at capacity
BAD_REQUEST: Final = 4400  # malformed message or room path
UNAUTHORIZED: Final = 4401  # bad or expired credentials
FORBIDDEN: Final = 4403  # authenticated, but no access
NOT_FOUND: Final = 4404  # unknown session
SIGNAL_ABUSE: Final = 4429  # too many bad signaling messages (signaling.hub.CLOSE_ABUSE)
PRESENCE_RATE: Final = 4429  # awareness updates faster than the room's token bucket allows
TERMINALS_OFF: Final = 4503  # no sandbox on this server: GET /api/sandbox says why and how to fix it


# Checked in order: the first kind the error is an instance of gives the code ("{}": its message).
_BY_ERROR: tuple[tuple[type[BaseException], int, str], ...] = (
    (errors.AuthenticationError, UNAUTHORIZED, "{}"),
    (errors.AccessDeniedError, FORBIDDEN, "{}"),
    (errors.SessionNotFoundError, NOT_FOUND, "{}"),
    (errors.TerminalNotFoundError, NOT_FOUND, "{}"),
    (errors.InvalidInputError, BAD_REQUEST, "{}"),
    (errors.RoomNameError, BAD_REQUEST, "{}"),
    (errors.TerminalNameError, BAD_REQUEST, "{}"),
    (errors.ProtocolError, BAD_REQUEST, "{}"),
    (errors.TerminalLimitError, TRY_AGAIN_LATER, "{}"),
    (errors.SandboxLimitError, TRY_AGAIN_LATER, "{}"),
    (errors.CapacityError, TRY_AGAIN_LATER, "{}"),
    (errors.SandboxOffError, TERMINALS_OFF, "{}"),
    (sandbox_errors.TerminalFullError, TRY_AGAIN_LATER, "{}"),
    (sandbox_errors.SandboxError, INTERNAL_ERROR, "sandbox error: {}"),
    (signaling_errors.SignalingError, TRY_AGAIN_LATER, "{}"),
)


def close_for(exc: BaseException) -> tuple[int, str]:
    """The close code and reason for an error that ends a WebSocket channel.

    An error that carries its code (`ChannelCloseError`, `LimitExceededError`) keeps it; the known
    kinds map through `_BY_ERROR`; anything else is unexpected: 1011 for that client only."""
    if isinstance(exc, errors.ChannelCloseError):
        return exc.code, exc.reason
    if isinstance(exc, errors.LimitExceededError):
        return exc.close_code, str(exc)
    for kind, code, template in _BY_ERROR:
        if isinstance(exc, kind):
            return code, template.format(exc)
    return INTERNAL_ERROR, "internal error"

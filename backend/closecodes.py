"""Every WebSocket close code Tandem sends, in one place (see the README's table)."""

from typing import Final

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

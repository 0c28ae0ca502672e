"""Exceptions of the backend package."""


class TandemError(Exception):
    """Base of every error Tandem raises on purpose."""


class ProtocolError(TandemError):
    """A client sent a frame that is not valid y-websocket protocol."""


class LimitExceededError(ProtocolError):
    """A client passed a per-connection bound (presence size, ids, rate); closed with `close_code`."""

    def __init__(self, message: str, close_code: int) -> None:
        super().__init__(message)
        self.close_code = close_code


class CommentRefusedError(TandemError):
    """A client update breaks the comments policy or takes someone's client id (the reason says
    how); the room drops it whole."""


class RoomNameError(TandemError):
    """A room path is not a single valid segment."""


class CapacityError(TandemError):
    """A node-wide or room-wide limit is reached."""


class StoreError(TandemError):
    """The document store failed."""


class CredentialsMissingError(TandemError):
    """No credential at all was presented (refused before a WebSocket is accepted: HTTP 403)."""


class AuthenticationError(TandemError):
    """A credential was presented but is wrong, expired, revoked or used up (401 / close 4401)."""


class AccessDeniedError(TandemError):
    """Authenticated, but the role does not allow the action (403 / close 4403)."""


class SessionNotFoundError(TandemError):
    """No session has that id (404 / close 4404)."""


class ConflictError(TandemError):
    """The request collides with existing state, e.g. a taken username (409)."""


class InvalidInputError(TandemError):
    """A value a user gave is out of bounds (422)."""


class RateLimitedError(TandemError):
    """Too many attempts: try again later (429)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitUnavailableError(TandemError):
    """The shared store of the login, signup and join limits (Redis) does not answer (503):
    attempts are refused rather than let through unlimited."""


class TerminalNameError(TandemError):
    """A `/term/{session}/{terminal}` path or terminal name is malformed (close 4400)."""


class TerminalNotFoundError(TandemError):
    """No such terminal, and this principal may not start one (close 4404)."""


class TerminalLimitError(TandemError):
    """The session already has its maximum number of terminals (close 1013)."""


class SandboxLimitError(TandemError):
    """The node runs `max_active_sandboxes` sessions' sandboxes already (close 1013)."""


class SandboxOffError(TandemError):
    """Terminals are off on this server; the message says why (close 4503)."""


class HistoryChainError(StoreError):
    """A version's chain of deltas does not reach a checkpoint (its base is gone)."""


class ChannelCloseError(TandemError):
    """End a WebSocket channel with this close code (as Starlette's `WebSocketException`): raised
    anywhere under `backend.channels.runner`, which closes the socket with `code` and `reason`."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

"""Exceptions of the backend package."""


class TandemError(Exception):
    """Base of every error Tandem raises on purpose."""


class ProtocolError(TandemError):
    """A client sent a frame that is not valid y-websocket protocol."""


class RoomNameError(TandemError):
    """A room path is not a single valid segment."""


class CapacityError(TandemError):
    """A node-wide or room-wide limit is reached."""


class StoreError(TandemError):
    """The document store failed."""

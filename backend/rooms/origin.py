"""Who made a document change: the pycrdt transaction origin every writer sets.

A change comes from a client connection (`ClientConnection` itself is the origin: the room
skips echoing a batch back to its only author), from a peer node (`Peer`, relayed over the bus:
that node stored and published it), or from the server (`Server`, with the kind of writer).
Origins are hashable and compare by value (pycrdt keys a transaction's origin by its hash), so
a writer recognises its own transactions by equality: file sync skips events whose origin is
`FILE_SYNC`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.rooms.connection import ClientConnection


@dataclass(frozen=True, slots=True)
class Peer:
    """Another node of the cluster (its updates and its clients' presence, relayed)."""

    node: str


class ServerKind(StrEnum):
    FILE_SYNC = "file sync"  # the workspace's files read into the doc
    TERMINALS = "terminals mirror"  # the doc's `terminals` map, kept by the registry
    HISTORY_RESTORE = "history restore"  # files put back from a recorded version
    PRESENCE = "presence"  # the room's own awareness entry (the durable announcement)
    UNKNOWN = "unknown"  # a writer that names no origin


@dataclass(frozen=True, slots=True)
class Server:
    """The server itself, writing for one of its parts."""

    kind: ServerKind


Origin = ClientConnection | Peer | Server

FILE_SYNC = Server(ServerKind.FILE_SYNC)
TERMINALS = Server(ServerKind.TERMINALS)
HISTORY_RESTORE = Server(ServerKind.HISTORY_RESTORE)
PRESENCE = Server(ServerKind.PRESENCE)
SERVER = Server(ServerKind.UNKNOWN)


def as_origin(value: object) -> Origin:
    """A transaction's origin as an `Origin` (a writer outside the server's kinds is `SERVER`)."""
    return value if isinstance(value, ClientConnection | Peer | Server) else SERVER

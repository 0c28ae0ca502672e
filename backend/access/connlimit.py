"""Open WebSockets per principal: a share per room and a share per node.

One viewer opened 2,000 connections to a room and so used up `max_clients_per_room`: even the
owner was locked out. Each authenticated principal (an account, a guest, a `?token=` link; not
`--no-auth`'s anonymous clients, each of which is its own) may hold at most
`connections_per_principal_per_room` WebSockets to one session, over `/yjs`, `/term` and
`/signal` together, and `connections_per_principal` on the node; the next one is closed with
1013 (try again later) and a reason. Generous for tabs and terminals, small next to the room cap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from backend.auth.types import Principal, PrincipalKind
from backend.errors import CapacityError

SCOPE_LEASE = "tandem.connection_lease"  # where a WebSocket's lease waits for its release


@dataclass(eq=False)
class Lease:
    who: str
    session: str
    released: bool = False


class PrincipalConnections:
    def __init__(self, per_room: int, per_node: int) -> None:
        self.per_room = per_room
        self.per_node = per_node
        self._room: dict[tuple[str, str], int] = {}
        self._node: dict[str, int] = {}
        self._lock = threading.Lock()
        self.refused = 0

    @staticmethod
    def key(principal: Principal) -> str | None:
        if principal.kind == PrincipalKind.ANONYMOUS:
            return None
        return f"{principal.kind}:{principal.ref or principal.id}"

    def acquire(self, principal: Principal, session: str) -> Lease | None:
        """A lease for one more connection, None for an uncounted principal; `CapacityError` over a cap."""
        who = self.key(principal)
        if who is None:
            return None
        with self._lock:
            in_room = self._room.get((who, session), 0)
            on_node = self._node.get(who, 0)
            if in_room >= self.per_room or on_node >= self.per_node:
                self.refused += 1
                where = "this session" if in_room >= self.per_room else "this server"
                raise CapacityError(f"too many open connections of yours to {where}: close some tabs")
            self._room[(who, session)] = in_room + 1
            self._node[who] = on_node + 1
        return Lease(who, session)

    def release(self, lease: Lease) -> None:
        with self._lock:
            if lease.released:
                return
            lease.released = True
            key = (lease.who, lease.session)
            left = self._room[key] - 1
            if left:
                self._room[key] = left
            else:
                del self._room[key]
            left = self._node[lease.who] - 1
            if left:
                self._node[lease.who] = left
            else:
                del self._node[lease.who]

    def count(self, principal: Principal, session: str) -> int:
        who = self.key(principal)
        return self._room.get((who, session), 0) if who else 0

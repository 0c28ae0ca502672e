"""Connections bounded per client IP and per node, idle and half-sent ones closed first.

Slowloris: ~20,600 half-sent requests from one IP used up the process's file descriptors and
`/healthz` stopped answering. Every TCP connection (HTTP, and WebSocket after its upgrade) holds
a `Slot` here from accept to close. A slot is *idle* while it waits for a request's headers (a
new connection, a half-sent request, a keep-alive between requests): losing it costs a client at
most a retry. When a new connection would pass the per-IP cap, that IP's oldest idle slot is
closed to make room; past the node cap, the node's oldest idle slot. Only when nothing idle is
left is the newcomer refused. So one IP's half-open sockets crowd out only that IP's own, and a
health check always finds room unless the node is full of live requests and WebSockets.
Addresses of trusted proxies have no per-IP cap (the proxy limits its own clients).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("tandem.http")


@dataclass(eq=False, slots=True)
class Slot:
    ip: str
    close: Callable[[], None]  # aborts the transport
    idle: bool = True
    released: bool = False
    key: int = field(default=0)


class ConnectionGuard:
    def __init__(self, per_ip: int, total: int, exempt: list[str] | None = None) -> None:
        self.per_ip = per_ip
        self.total = total
        exempt = exempt or []
        self._exempt_all = "*" in exempt  # every peer is a trusted proxy
        self._exempt = [ipaddress.ip_network(e, strict=False) for e in exempt if e != "*"]
        self._count_by_ip: dict[str, int] = {}
        self._idle_by_ip: dict[str, OrderedDict[int, Slot]] = {}
        self._idle: OrderedDict[int, Slot] = OrderedDict()
        self._next = 0
        self.open = 0
        self.evicted = 0
        self.refused = 0

    def exempt(self, ip: str) -> bool:
        if self._exempt_all:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self._exempt)

    def admit(self, ip: str, close: Callable[[], None]) -> Slot | None:
        """A slot for a new connection from `ip`, evicting idle ones if needed; None: refuse it."""
        if not self.exempt(ip) and self._count_by_ip.get(ip, 0) >= self.per_ip:
            if not self._evict_oldest(self._idle_by_ip.get(ip)):
                self.refused += 1
                return None
        if self.open >= self.total and not self._evict_oldest(self._idle):
            self.refused += 1
            return None
        self._next += 1
        slot = Slot(ip, close, key=self._next)
        self.open += 1
        self._count_by_ip[ip] = self._count_by_ip.get(ip, 0) + 1
        self._mark_idle(slot)
        return slot

    def busy(self, slot: Slot) -> None:
        """A request's headers are in (or the connection is a WebSocket): not evictable."""
        if slot.idle and not slot.released:
            slot.idle = False
            self._idle.pop(slot.key, None)
            per_ip = self._idle_by_ip.get(slot.ip)
            if per_ip is not None:
                per_ip.pop(slot.key, None)
                if not per_ip:
                    del self._idle_by_ip[slot.ip]

    def idle(self, slot: Slot) -> None:
        """Waiting for the next request's headers: may be evicted."""
        if not slot.idle and not slot.released:
            self._mark_idle(slot)

    def release(self, slot: Slot) -> None:
        if slot.released:
            return
        self.busy(slot)
        slot.released = True
        self.open -= 1
        left = self._count_by_ip[slot.ip] - 1
        if left:
            self._count_by_ip[slot.ip] = left
        else:
            del self._count_by_ip[slot.ip]

    def count(self, ip: str) -> int:
        return self._count_by_ip.get(ip, 0)

    def _mark_idle(self, slot: Slot) -> None:
        slot.idle = True
        self._idle[slot.key] = slot
        self._idle_by_ip.setdefault(slot.ip, OrderedDict())[slot.key] = slot

    def _evict_oldest(self, idle: OrderedDict[int, Slot] | None) -> bool:
        if not idle:
            return False
        slot = next(iter(idle.values()))
        self.release(slot)
        self.evicted += 1
        slot.close()
        return True

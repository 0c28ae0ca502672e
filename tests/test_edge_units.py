"""The edge's logic in-process: the connection guard's caps and eviction order, Host parsing
(the real-server behaviour is in test_edge_http.py)."""

from __future__ import annotations

from backend.edge.connections import ConnectionGuard
from backend.edge.hosts import AllowedHosts, hostname
from backend.settings import Settings


class Conn:
    def __init__(self, guard: ConnectionGuard, ip: str) -> None:
        self.closed = False
        self.slot = guard.admit(ip, self.close)

    def close(self) -> None:
        self.closed = True


def test_the_node_cap_evicts_the_oldest_idle_connection_of_any_ip() -> None:
    guard = ConnectionGuard(per_ip=10, total=3)
    a, b, c = Conn(guard, "1.1.1.1"), Conn(guard, "2.2.2.2"), Conn(guard, "3.3.3.3")
    assert a.slot and b.slot and c.slot
    guard.busy(a.slot)  # a is serving a request: never evicted
    d = Conn(guard, "4.4.4.4")
    assert d.slot is not None and b.closed and not a.closed and not c.closed
    guard.busy(c.slot)
    guard.busy(d.slot)
    assert Conn(guard, "5.5.5.5").slot is None  # nothing idle left: refused
    assert guard.open == 3 and guard.refused == 1
    guard.release(a.slot)
    guard.release(a.slot)  # idempotent
    assert guard.open == 2 and Conn(guard, "5.5.5.5").slot is not None


def test_the_ip_cap_evicts_only_that_ips_idle_connections() -> None:
    guard = ConnectionGuard(per_ip=2, total=100, exempt=["10.0.0.0/8"])
    other = Conn(guard, "9.9.9.9")
    first, second = Conn(guard, "1.1.1.1"), Conn(guard, "1.1.1.1")
    third = Conn(guard, "1.1.1.1")
    assert third.slot is not None and first.closed and not second.closed and not other.closed
    assert guard.count("1.1.1.1") == 2
    assert second.slot and third.slot
    guard.busy(second.slot)
    guard.busy(third.slot)
    assert Conn(guard, "1.1.1.1").slot is None
    guard.idle(third.slot)  # keep-alive between requests: evictable again
    assert Conn(guard, "1.1.1.1").slot is not None and third.closed
    assert all(Conn(guard, "10.1.2.3").slot for _ in range(5))  # a trusted proxy has no per-IP cap


def test_host_names_are_parsed_strictly() -> None:
    assert hostname("Example.COM:8000") == "example.com"
    assert hostname("[::1]:8000") == "::1"
    assert hostname("localhost.") == "localhost"
    for bad in ("", "a b", "evil.example/x", "user@host", "::1", "[::1", "host:port"):
        assert hostname(bad) is None, bad
    allowed = AllowedHosts(Settings(public_url="https://tandem.example.org/", allowed_hosts=["Extra.Name"]))
    assert allowed.allows("tandem.example.org") and allowed.allows("extra.name:443")
    assert allowed.allows("127.0.0.1:1") and allowed.allows("[::1]") and allowed.allows("10.0.0.7")
    assert not allowed.allows("tandem.example.org.evil.example") and not allowed.allows(None)
    assert allowed.allows_origin("https://tandem.example.org") and not allowed.allows_origin("null")
    assert AllowedHosts(Settings(allowed_hosts=["*"])).allows("anything.example")
    assert AllowedHosts(Settings(host="tandem.lan")).allows("tandem.lan:8000")

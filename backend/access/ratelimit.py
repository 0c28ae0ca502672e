"""Login, signup and join throttling: sliding windows in memory, bounded, counted atomically.

An attempt is counted *before* the password is checked, under one lock, against every window it
falls in (the username at that IP, and the IP across all usernames): 100 concurrent attempts get
exactly the limit's worth of password checks, and spraying many usernames from one IP runs into
the IP's own window. A successful login takes its attempt back (so people behind one NAT who
type their passwords right never lock each other out) and clears its username's window.

Per node: behind N nodes an attacker gets N times the budget, which still turns a password
guessing run into years. The `limits` package was considered: it has no way to take back one
counted attempt, and its memory storage does not bound the number of keys.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from backend.errors import RateLimitedError


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    limit: int
    window: float
    what: str  # for the message: "failed logins for this username"


@dataclass(frozen=True, slots=True)
class Ticket:
    """The attempts one `hit` counted: `refund` takes exactly these back."""

    entries: tuple[tuple[str, float], ...]


class SlidingWindows:
    """Timestamps per key, at most `max_entries` keys (the least recently hit go first)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sync route handlers run in worker threads

    def hit(self, rules: Sequence[Rule]) -> Ticket:
        """Count one attempt in every rule's window, or none and raise `RateLimitedError`."""
        now = time.monotonic()
        with self._lock:
            for rule in rules:
                hits = self._hits.get(rule.key)
                if hits is None:
                    continue
                while hits and now - hits[0] > rule.window:
                    hits.popleft()
                if len(hits) >= rule.limit:
                    retry = rule.window - (now - hits[0])
                    raise RateLimitedError(f"too many {rule.what}: try again in {retry:.0f}s", retry)
            for rule in rules:
                self._hits.setdefault(rule.key, deque(maxlen=rule.limit)).append(now)
                self._hits.move_to_end(rule.key)
            while len(self._hits) > self.max_entries:
                self._hits.popitem(last=False)
        return Ticket(tuple((rule.key, now) for rule in rules))

    def refund(self, ticket: Ticket) -> None:
        with self._lock:
            for key, stamp in ticket.entries:
                hits = self._hits.get(key)
                if hits is not None and stamp in hits:
                    hits.remove(stamp)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)


class LoginRateLimiter:
    def __init__(
        self, max_attempts: int, window_seconds: float, max_entries: int, ip_max_attempts: int | None = None
    ) -> None:
        self.max_attempts = max_attempts
        self.ip_max_attempts = ip_max_attempts if ip_max_attempts is not None else 4 * max_attempts
        self.window = window_seconds
        self.windows = SlidingWindows(max_entries)

    def _user_key(self, username: str, ip: str) -> str:
        return f"login:{username}|{ip}"

    def attempt(self, username: str, ip: str) -> Ticket:
        """Count a login attempt before its password is checked; raises `RateLimitedError`.
        `username` should be folded already (backend.access.names.fold)."""
        return self.windows.hit(
            [
                Rule(self._user_key(username, ip), self.max_attempts, self.window, "failed logins"),
                Rule(f"login-ip:{ip}", self.ip_max_attempts, self.window, "failed logins from your address"),
            ]
        )

    def succeeded(self, ticket: Ticket, username: str, ip: str) -> None:
        self.windows.refund(ticket)
        self.windows.clear(self._user_key(username, ip))

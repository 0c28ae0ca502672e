"""Failed-login throttling per username + client IP, in memory, bounded.

Per node: behind N nodes an attacker gets N times the budget, which still turns a password
guessing run into years. Successful logins clear the key.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from backend.errors import RateLimitedError


class LoginRateLimiter:
    def __init__(self, max_attempts: int, window_seconds: float, max_entries: int) -> None:
        self.max_attempts = max_attempts
        self.window = window_seconds
        self.max_entries = max_entries
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sync route handlers run in worker threads

    def check(self, key: str) -> None:
        """Raise `RateLimitedError` when `key` used up its failures in the window."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return
            while failures and now - failures[0] > self.window:
                failures.popleft()
            if len(failures) >= self.max_attempts:
                retry = self.window - (now - failures[0])
                raise RateLimitedError(f"too many failed logins: try again in {retry:.0f}s", retry)

    def failed(self, key: str) -> None:
        with self._lock:
            failures = self._failures.setdefault(key, deque(maxlen=self.max_attempts))
            failures.append(time.monotonic())
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

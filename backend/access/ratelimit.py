"""Login, signup and join limits, counted in the `limits` library's storage: Redis when
`TANDEM_REDIS_URL` is set, so they hold across every node; memory otherwise.

An attempt is counted *before* the password is checked, against every window it falls in (the
username at that IP, and the IP across all usernames), all or nothing: each count is one atomic
increment (a Lua script in Redis, a lock in memory), and a refused attempt gives back what it
took. So 100 concurrent attempts, on one node or spread over several, get exactly the limit's
worth of password checks, and spraying many usernames from one IP runs into the IP's own window.
A successful login gives its attempt back (people behind one NAT who type their passwords right
never lock each other out) and clears its username's window.

Windows are fixed, starting at a key's first counted attempt (`limits`' fixed window: the only
strategy whose count can be given back). Memory storage keeps at most `max_entries` keys (the
least recently hit are cleared first); Redis keys expire with their window.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from backend.errors import RateLimitedError, RateLimitUnavailableError
from backend.settings import Settings


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    limit: int
    window: float
    what: str  # for the message: "failed logins for this username"

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.limit, max(1, math.ceil(self.window)), namespace="tandem")


@dataclass(frozen=True, slots=True)
class Ticket:
    """The attempts one `hit` counted: `refund` takes exactly these back."""

    rules: tuple[Rule, ...]


def make_storage(settings: Settings) -> Storage:
    if not settings.redis_url:
        return MemoryStorage()
    scheme, rest = settings.redis_url.split("://", 1)
    return RedisStorage(
        f"async+{scheme}://{rest}",
        implementation="redispy",
        key_prefix=f"{settings.redis_prefix}limits",
        wrap_exceptions=True,
    )


@contextmanager
def _store_errors() -> Iterator[None]:
    """Redis away: refuse (503) rather than let attempts through unlimited."""
    try:
        yield
    except StorageError as exc:
        raise RateLimitUnavailableError(f"the rate limit store is unavailable: {exc}") from exc


class Windows:
    """Counts per key in `limits` storage (see the module docstring)."""

    def __init__(self, storage: Storage, max_entries: int) -> None:
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        # Memory only: the keys in use, least recently hit first (Redis expires its own).
        self._keys: OrderedDict[str, Rule] | None = (
            OrderedDict() if isinstance(storage, MemoryStorage) else None
        )
        self.max_entries = max_entries

    async def hit(self, rules: Sequence[Rule]) -> Ticket:
        """Count one attempt in every rule's window, or none and raise `RateLimitedError`."""
        counted: list[Rule] = []
        with _store_errors():
            for rule in rules:
                allowed = await self.limiter.hit(rule.item(), rule.key)
                counted.append(rule)
                if not allowed:
                    await self._give_back(counted)
                    retry = await self._retry(rule)
                    raise RateLimitedError(f"too many {rule.what}: try again in {retry:.0f}s", retry)
            await self._remember(rules)
        return Ticket(tuple(rules))

    async def refund(self, ticket: Ticket) -> None:
        with _store_errors():
            await self._give_back(ticket.rules)

    async def clear(self, rule: Rule) -> None:
        with _store_errors():
            await self.limiter.clear(rule.item(), rule.key)
        if self._keys is not None:
            self._keys.pop(rule.key, None)

    def __len__(self) -> int:
        return len(self._keys) if self._keys is not None else 0

    async def _give_back(self, rules: Sequence[Rule]) -> None:
        # A negative cost is one atomic decrement (INCRBY -1; `+= -1` under the memory lock).
        for rule in rules:
            await self.limiter.hit(rule.item(), rule.key, cost=-1)

    async def _retry(self, rule: Rule) -> float:
        stats = await self.limiter.get_window_stats(rule.item(), rule.key)
        return max(1.0, stats.reset_time - time.time())

    async def _remember(self, rules: Sequence[Rule]) -> None:
        if self._keys is None:
            return
        for rule in rules:
            self._keys[rule.key] = rule
            self._keys.move_to_end(rule.key)
        while len(self._keys) > self.max_entries:
            _, oldest = self._keys.popitem(last=False)
            await self.limiter.clear(oldest.item(), oldest.key)


class LoginRateLimiter:
    def __init__(
        self, windows: Windows, max_attempts: int, window_seconds: float, ip_max_attempts: int | None = None
    ) -> None:
        self.windows = windows
        self.max_attempts = max_attempts
        self.ip_max_attempts = ip_max_attempts if ip_max_attempts is not None else 4 * max_attempts
        self.window = window_seconds

    def _user_rule(self, username: str, ip: str) -> Rule:
        return Rule(f"login:{username}|{ip}", self.max_attempts, self.window, "failed logins")

    async def attempt(self, username: str, ip: str) -> Ticket:
        """Count a login attempt before its password is checked; raises `RateLimitedError`.
        `username` should be folded already (backend.access.names.fold)."""
        return await self.windows.hit(
            [
                self._user_rule(username, ip),
                Rule(f"login-ip:{ip}", self.ip_max_attempts, self.window, "failed logins from your address"),
            ]
        )

    async def succeeded(self, ticket: Ticket, username: str, ip: str) -> None:
        await self.windows.refund(ticket)
        await self.windows.clear(self._user_rule(username, ip))

"""`/readyz` checks: each dependency answers within a deadline, or the node is not ready.

Every check runs concurrently with its own timeout, so one hung dependency costs at most
`readyz_timeout_seconds`, and reports `ok`, `fail` (with the error) or `skipped` with its latency.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

if TYPE_CHECKING:
    from backend.ops.redisprobe import NoRedisProbe, RedisProbe
    from backend.settings import Settings
    from backend.store.types import DocumentStore
    from backend.terminals.service import TerminalService

log = logging.getLogger("tandem.readyz")

Status = Literal["ok", "fail", "skipped"]


@dataclass(slots=True)
class CheckResult:
    name: str
    status: Status
    latency_ms: float
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "latency_ms": round(self.latency_ms, 2)}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Targets:
    """What `/readyz` checks (parts of the node, handed over by the route)."""

    settings: Settings
    store: DocumentStore
    redis_probe: RedisProbe | NoRedisProbe
    terminals: TerminalService
    node_id: str


class Skip(Exception):
    """Raised by a check that does not apply on this node (e.g. no Redis configured)."""


async def check_database(targets: Targets) -> str | None:
    await anyio.to_thread.run_sync(targets.store.ping, abandon_on_cancel=True)
    return None


async def check_redis(targets: Targets) -> str | None:
    probe = targets.redis_probe
    if not probe.configured:
        raise Skip("in-process pub/sub (TANDEM_REDIS_URL unset)")
    await probe.ping()
    return None


async def check_docker(targets: Targets) -> str | None:
    terminals = targets.terminals
    if targets.settings.sandbox == "off":
        raise Skip("sandbox off")
    if not terminals.status.enabled:
        if targets.settings.sandbox == "docker":
            raise RuntimeError(terminals.status.reason or "sandbox unavailable")
        raise Skip(terminals.status.reason or "terminals off")
    await terminals.registry.sandbox.docker.version()
    return None


async def check_disk(targets: Targets) -> str | None:
    usage = await anyio.to_thread.run_sync(shutil.disk_usage, targets.settings.data)
    free_mb = usage.free / (1024 * 1024)
    if free_mb < targets.settings.readyz_min_free_disk_mb:
        raise RuntimeError(f"{free_mb:.0f} MiB free under the data directory")
    return f"{free_mb:.0f} MiB free"


CHECKS: dict[str, Callable[[Targets], Awaitable[str | None]]] = {
    "database": check_database,
    "redis": check_redis,
    "docker": check_docker,
    "disk": check_disk,
}


async def _run(name: str, check: Callable[[Targets], Awaitable[str | None]], targets: Targets) -> CheckResult:
    started = time.perf_counter()
    try:
        with anyio.fail_after(targets.settings.readyz_timeout_seconds):
            detail = await check(targets)
        status: Status = "ok"
    except Skip as exc:
        status, detail = "skipped", str(exc)
    except TimeoutError:
        status, detail = "fail", "timed out"
    except Exception as exc:
        status, detail = "fail", f"{type(exc).__name__}: {exc}"[:300]
    latency = (time.perf_counter() - started) * 1000
    if status == "fail":
        log.warning("readyz: %s failed: %s", name, detail)
    return CheckResult(name, status, latency, detail)


async def run_checks(targets: Targets) -> tuple[bool, dict[str, Any]]:
    """(ready, JSON body): ready when no check failed."""
    results: dict[str, CheckResult] = {}

    async def one(name: str, check: Callable[[Targets], Awaitable[str | None]]) -> None:
        results[name] = await _run(name, check, targets)

    async with anyio.create_task_group() as tg:
        for name, check in CHECKS.items():
            tg.start_soon(one, name, check)
    ready = all(r.status != "fail" for r in results.values())
    body = {
        "status": "ready" if ready else "not ready",
        "node": targets.node_id,
        "checks": {name: results[name].as_json() for name in CHECKS},
    }
    return ready, body

"""The benchmark scenarios of the foundation issue, each returning flat metrics for one server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bench.loadgen import run_loadgen
from bench.real_project import real_project
from bench.servers import Server

Metrics = dict[str, float | int | None]

FANOUTS = [(1, 50), (10, 10), (2, 200)]
FANOUT_RATE = 50
RATE_STEPS = [100, 200, 400, 800, 1600, 3200]


def _room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fanout(
    server: Server, seconds: int, shapes: list[tuple[int, int]] | None = None, drain: float = 5
) -> Metrics:
    """`drain`: how long the generator waits for the last deliveries; what is still missing then
    counts as lost (a noisy run drains longer, so late is not counted as lost)."""
    out: Metrics = {}
    for writers, readers in shapes or FANOUTS:
        r = run_loadgen(
            server, "fanout", "--room", _room("fan"), "--writers", str(writers), "--readers", str(readers),
            "--rate", str(FANOUT_RATE), "--seconds", str(seconds), "--drain", str(drain),
        )  # fmt: skip
        key = f"fanout {writers}->{readers}"
        lat = r.get("latency_ms") or {}
        delivered = r.get("delivered") or 0
        out[f"{key} p50 ms"] = lat.get("p50")
        out[f"{key} p99 ms"] = lat.get("p99")
        out[f"{key} missing"] = r.get("missing")
        out[f"{key} out of order"] = r.get("out_of_order")
        out[f"{key} loadgen loop p99 ms"] = r.get("client_loop_delay_p99_ms")
        cpu = r.get("server_cpu_steady_s", r["server_cpu_s"])
        out[f"{key} server CPU us/delivered"] = round(cpu * 1e6 / delivered, 2) if delivered else None
    return out


def max_rate(server: Server, seconds: int) -> Metrics:
    """The highest total edit rate (10 writers -> 10 readers) with p99 <= 100 ms and nothing lost."""
    best = 0
    for rate in RATE_STEPS:
        r = run_loadgen(
            server, "fanout", "--room", _room("rate"), "--writers", "10", "--readers", "10",
            "--rate", str(rate), "--seconds", str(seconds),
        )  # fmt: skip
        p99 = (r.get("latency_ms") or {}).get("p99")
        if not r.get("ok") or p99 is None or p99 > 100 or r.get("missing"):
            break
        best = rate
    return {"max sustained edits/s (p99<=100ms)": best}


def _idle_clients(server: Server, label: str, clients: int, rooms: int, hold: float) -> dict[str, Any]:
    """The loadgen's idle run after a warm-up (lazy imports, JIT, first room load), so what is
    measured is what the clients cost, not what any first connection sets up."""
    run_loadgen(server, "idle", "--room", _room("warm"), "--clients", "20", "--rooms", "2", "--hold", "0")
    return run_loadgen(
        server, "idle", "--room", _room(label), "--clients", str(clients), "--rooms", str(rooms),
        "--hold", str(hold), "--handshake-timeout", "30", "--concurrency", "20",
    )  # fmt: skip


def capacity(server: Server, clients: int, rooms: int) -> Metrics:
    r = _idle_clients(server, "idle", clients, rooms, hold=3)
    hs = r.get("handshake_ms") or {}
    key = f"{clients} idle clients"
    grown = r["server_rss_peak"] - r["server_rss_before"]
    return {
        f"{key} handshake p50 ms": hs.get("p50"),
        f"{key} handshake p99 ms": hs.get("p99"),
        f"{key} failures": r.get("failures"),
        f"{key} RSS KiB/client": round(grown / 1024 / clients, 1),
    }


def new_rooms(server: Server, rooms: int = 200) -> Metrics:
    """Every client the first of its room: each handshake waits for its room's load (with Docker
    terminals, a new session's workspace quota is made too, behind the room since #15 item 3)."""
    r = _idle_clients(server, "new", rooms, rooms, hold=0)
    hs = r.get("handshake_ms") or {}
    return {
        f"{rooms} new rooms: first handshake p50 ms": hs.get("p50"),
        f"{rooms} new rooms: first handshake p99 ms": hs.get("p99"),
        f"{rooms} new rooms: failures": r.get("failures"),
    }


def joinstorm(server: Server) -> Metrics:
    r = run_loadgen(server, "joinstorm", "--room", _room("storm"), "--clients", "20", "--tries", "10")
    stranded = r.get("stranded_per_try") or []
    return {"join storm: tries with stranded clients (of 10)": sum(1 for s in stranded if s)}


def history(server: Server, edits: int) -> Metrics:
    r = run_loadgen(server, "history", "--room", _room("hist"), "--edits", str(edits), "--fresh", "3")
    sync = r.get("fresh_sync_ms") or {}
    key = f"history {edits // 1000}k edits"
    return {
        f"{key}: doc KB": round((r.get("doc_bytes") or 0) / 1000, 1),
        f"{key}: server catch-up s": round((r.get("server_confirm_ms") or 0) / 1000, 2),
        f"{key}: fresh sync p50 ms": sync.get("p50"),
    }


def parse_shape(text: str) -> tuple[int, int]:
    """`2x200` -> (2, 200): writers x readers of one fan-out run."""
    writers, _, readers = text.partition("x")
    return int(writers), int(readers)


def all_scenarios(
    full: bool, seconds: int, shapes: list[tuple[int, int]] | None = None, drain: float = 5
) -> list[tuple[str, Callable[[Server], Metrics]]]:
    scenarios: list[tuple[str, Callable[[Server], Metrics]]] = [
        ("fanout", lambda s: fanout(s, seconds, shapes, drain)),
        ("max rate", lambda s: max_rate(s, max(3, seconds // 2))),
        ("capacity 2000", lambda s: capacity(s, 2000, 200)),
        ("capacity 5000", lambda s: capacity(s, 5000, 500)),
        ("new rooms", new_rooms),
        ("join storm", joinstorm),
        # 50k by default: Yrs's cost per appended character grows with the item it squashes into
        # (README: benchmarks), so Tandem's 260k run takes minutes; `--full` runs 260k and 2.6M.
        ("history", lambda s: history(s, 50_000)),
        # Tandem only, with its own server (Docker terminals): bench/real_project.py.
        ("real project", real_project),
    ]
    if full:
        scenarios.append(("history 260k", lambda s: history(s, 260_000)))
        scenarios.append(("history x10", lambda s: history(s, 2_600_000)))
    return scenarios


def describe(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items())

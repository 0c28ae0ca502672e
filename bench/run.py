"""`python -m bench`: every scenario against Tandem and the reference servers, in one run.

Each scenario gets a fresh server process per target; the load generator is the Node script in
bench/node (independent of all three servers). Prints one table: each metric, each server, and
Tandem's ratio to the better reference. `--rounds 3` reports medians; results go to
bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import time

from bench.noisy import cpu_hogs
from bench.scenarios import all_scenarios, parse_shape
from bench.servers import OPTIONAL_STARTERS, ROOT, STARTERS

LOWER_IS_BETTER_EXCEPT = ("max sustained",)


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _median(values: list[float | int | None]) -> float | int | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(metric: str, ours: float | int | None, peers: list[float | int | None]) -> str:
    peers_present = [p for p in peers if p not in (None, 0)]
    if ours is None or not peers_present:
        return ""
    higher_better = metric.startswith(LOWER_IS_BETTER_EXCEPT)
    best = max(peers_present) if higher_better else min(peers_present)
    return f"{ours / best:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10, help="length of each fan-out run")
    parser.add_argument("--full", action="store_true", help="also the 2.6M-edit history")
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    parser.add_argument(
        "--targets", nargs="*", default=list(STARTERS), choices=[*STARTERS, *OPTIONAL_STARTERS]
    )
    parser.add_argument(
        "--fanouts", nargs="*", type=parse_shape, help="fan-out shapes as WRITERSxREADERS, e.g. 2x200"
    )
    parser.add_argument(
        "--noisy", action="store_true", help="run everything beside two CPU hogs at nice 5 (bench/noisy.py)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        help="seconds a fan-out run waits for late deliveries before counting them missing "
        "(default 5; 30 with --noisy)",
    )
    parser.add_argument(
        "--noisy-max-seconds", type=float, default=3600, help="the hogs stop by themselves after this"
    )
    args = parser.parse_args()
    _raise_fd_limit()
    with cpu_hogs(args.noisy_max_seconds) if args.noisy else contextlib.nullcontext():
        _run(args)


def _run(args: argparse.Namespace) -> None:
    drain = args.drain if args.drain is not None else (30 if args.noisy else 5)
    every = all_scenarios(args.full, args.seconds, args.fanouts, drain)
    scenarios = [s for s in every if not args.only or s[0] in args.only]
    samples: dict[str, dict[str, list[float | int | None]]] = {}
    for round_no in range(args.rounds):
        for scenario, fn in scenarios:
            for target in args.targets:
                try:
                    server = {**STARTERS, **OPTIONAL_STARTERS}[target]()
                except Exception as exc:  # e.g. pycrdt-websocket not installed: the others still run
                    print(f"[round {round_no + 1}] {scenario} / {target}: not started: {exc}", flush=True)
                    continue
                try:
                    started = time.monotonic()
                    metrics = fn(server)
                    took = time.monotonic() - started
                finally:
                    server.stop()
                print(f"[round {round_no + 1}] {scenario} / {target} ({took:.0f}s): {metrics}", flush=True)
                for metric, value in metrics.items():
                    samples.setdefault(metric, {}).setdefault(target, []).append(value)

    table = {m: {t: _median(v) for t, v in per.items()} for m, per in samples.items()}
    peers = [t for t in args.targets if t != "tandem"]
    header = ["metric", *args.targets, "tandem / best peer"]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for metric, row in table.items():
        cells = [str(row.get(t, "")) for t in args.targets]
        ratio = _ratio(metric, row.get("tandem"), [row.get(p) for p in peers])
        print(f"| {metric} | " + " | ".join(cells) + f" | {ratio} |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    machine = f"{platform.node()} {platform.machine()} {len(__import__('os').sched_getaffinity(0))} cores"
    (out / "latest.json").write_text(
        json.dumps({"machine": machine, "rounds": args.rounds, "table": table, "samples": samples}, indent=1)
    )
    noisy = "; two CPU hogs at nice 5" if args.noisy else ""
    print(f"\nmachine: {machine}; rounds: {args.rounds}; python {sys.version.split()[0]}{noisy}")


if __name__ == "__main__":
    main()

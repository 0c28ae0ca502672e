"""Drive `bench/node/loadgen.mjs` (the independent load generator) and sample the server meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import Any

from bench.servers import ROOT, Server

LOADGEN = ROOT / "bench" / "node" / "loadgen.mjs"


def run_loadgen(server: Server, scenario: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run one scenario; add the server's CPU seconds used and its peak RSS during the run."""
    peak_rss = server.rss_bytes()
    rss_before = peak_rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        while not stop.wait(0.1):
            try:
                peak_rss = max(peak_rss, server.rss_bytes())
            except OSError:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = server.cpu_seconds()
    phase_cpu: dict[str, float] = {}
    started = time.monotonic()
    proc = subprocess.Popen(
        ["node", str(LOADGEN), scenario, "--url", server.ws_url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOADGEN_PHASES": "1"},
    )
    stderr_tail: list[str] = []

    def read_phases() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("@phase "):
                phase_cpu[line.split()[1]] = server.cpu_seconds()
            else:
                stderr_tail.append(line)

    reader = threading.Thread(target=read_phases, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    elapsed = time.monotonic() - started
    cpu1 = server.cpu_seconds()
    stop.set()
    sampler.join()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] = (
        json.loads(lines[-1]) if lines else {"ok": False, "error": "".join(stderr_tail)[-500:]}
    )
    result["server_cpu_s"] = cpu1 - cpu0
    # CPU from the first edit sent to the last one delivered: connection set-up excluded.
    if "send" in phase_cpu:
        result["server_cpu_steady_s"] = phase_cpu.get("close", cpu1) - phase_cpu["send"]
    result["server_rss_before"] = rss_before
    result["server_rss_peak"] = peak_rss
    result["wall_s"] = elapsed
    return result

"""`python -m bench.pageload`: the room's first file visible after navigation (p50/p99) and the
landing page's JS over the wire, in Debian's headless Chromium against a real `tandem serve`.

`python -m bench.pageload --phone [RUNS] [--cdp-network]`: a phone's first visit to a room instead
(device emulation and 4x CPU throttling through CDP, a slow-4G network through bench/throttle.py
or, with --cdp-network, through CDP; see bench/web/pageload.mjs).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

from bench.servers import ROOT, free_port, start_tandem


def main() -> None:
    phone = "--phone" in sys.argv
    cdp_network = "--cdp-network" in sys.argv
    runs = next((a for a in sys.argv[1:] if a.isdigit()), "5" if phone else "10")
    flags = [f for f in ("--phone", "--cdp-network") if f in sys.argv]
    server = start_tandem()
    proxy: subprocess.Popen[bytes] | None = None
    try:
        base = server.ws_url.replace("ws://", "http://").removesuffix("/yjs")
        if phone and not cdp_network:
            port = free_port()
            upstream = base.rsplit(":", 1)[1]
            throttle = [sys.executable, "-m", "bench.throttle", "--listen", str(port), "--upstream", upstream]
            proxy = subprocess.Popen(throttle, cwd=ROOT)
            _wait_port(port)
            base = f"http://127.0.0.1:{port}"
        out = subprocess.run(
            ["node", str(ROOT / "bench" / "web" / "pageload.mjs"), base, runs, *flags],
            capture_output=True, text=True, timeout=1800, check=True,
        )  # fmt: skip
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        server.stop()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if phone:
        _print_phone(result)
        return
    ff = result["first_file_ms"]
    print("| metric | value | budget |\n|---|---|---|")
    print(f"| room: first file visible p50 / p99 | {ff['p50']} / {ff['p99']} ms | 2000 ms |")
    print(f"| landing page JS transferred | {result['landing_js_bytes'] / 1024:.1f} KiB | 100 KiB gzip |")


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling for a child process to listen
    raise RuntimeError(f"throttle proxy did not listen on {port}")


def _print_phone(result: dict[str, Any]) -> None:
    ff, ready = result["first_file_ms"], result["offline_ready_ms"]
    sent, stored = result["page_bytes_transferred"], result["sw_cache_after_first_visit"]
    print(f"| phone first room visit ({result['profile']}, {result['runs']} runs) | p50 | max |")
    print("|---|---|---|")
    print(f"| first file visible | {ff['p50']} ms | {ff['max']} ms |")
    print(f"| service worker in control (offline-ready) | {ready['p50']} ms | {ready['max']} ms |")
    print(f"| page bytes transferred | {sent['p50'] / 1024:.0f} KiB | {sent['max'] / 1024:.0f} KiB |")
    cache = f"{stored['files']} files, {stored['bytes'] / 1e6:.2f} MB"
    print(f"| service-worker cache after the visit | {cache} | |")


if __name__ == "__main__":
    main()

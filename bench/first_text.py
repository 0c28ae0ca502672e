"""First text of a large project in Chromium (#18 item 5): a ~25 MB, ~1,500-file project from this
environment's site-packages (tests/projects.py LARGE_PACKAGES) in a session's workspace, on one
`tandem serve` with SQLite and terminals off; the room is loaded before the first run.

    python -m bench.first_text [--runs 3] [--server-root DIR] [--profiles desktop,phone,slow]

Per profile, fresh browser context per run: navigation -> the first file's first line on screen
(p50 / max), and -> the live doc synced where that ends in bounded time. Profiles: desktop; phone
(device emulation, 4x CPU through CDP); phone on a slow 4G link (bench/throttle.py: 150 ms RTT,
1.6 Mbit/s down, shared by every connection of the browser). `--server-root` runs another
checkout's server and page (before/after comparisons). Also called by bench.real_project.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import free_port  # noqa: E402
from tests.projects import LARGE_PACKAGES, copy_packages, text_files  # noqa: E402

ROOM = "large-project"


def _serve(root: Path, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", str(data)]
    env = {**os.environ, "TANDEM_LOG_LEVEL": "warning", "TANDEM_SANDBOX": "off"}
    env["TANDEM_ROOM_IDLE_UNLOAD_SECONDS"] = "3600"  # every run finds the room loaded
    log = open(data / "server.log", "ab")  # the child owns it
    proc = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)  # polling a child process


def _load_room(port: int) -> None:
    """Open the room once (reads the workspace in) with a y-protocol SyncStep1 over a WebSocket."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/yjs/{ROOM}", max_size=None, open_timeout=120) as ws:
        ws.send(b"\x00\x00\x01\x00")  # SyncStep1 with an empty state vector
        while True:
            frame = ws.recv(timeout=300)
            if isinstance(frame, bytes) and frame[:2] == b"\x00\x01":  # a SyncStep2: loaded
                return


def _browser(base: str, line: str, runs: int, *flags: str) -> dict[str, list[int]]:
    out = subprocess.run(
        ["node", str(ROOT / "bench" / "web" / "first_text.mjs"), base, ROOM, line, str(runs), *flags],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"first_text.mjs {' '.join(flags)} failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _rows(out: dict[str, float | int | None], what: str, values: list[int]) -> None:
    """`what` p50 and max in ms (numbers: `python -m bench` takes medians over rounds)."""
    v = sorted(values)
    out[f"{what} p50 ms"] = v[len(v) // 2] if v else None
    out[f"{what} max ms"] = v[-1] if v else None


PROFILES = ("desktop", "phone", "slow")


def measure(
    runs: int = 3, server_root: Path = ROOT, profiles: tuple[str, ...] = PROFILES
) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    with tempfile.TemporaryDirectory(prefix="tandem-firsttext-") as tmp:
        data = Path(tmp)
        workspace = data / "workspaces" / ROOM
        copy_packages(workspace, LARGE_PACKAGES)
        texts, _ = text_files(workspace, 1024 * 1024)
        out["first-text project files"] = len(texts)
        out["first-text project text MB"] = round(sum(map(len, texts.values())) / 1e6, 1)
        first = texts[min(texts)].decode()
        line = next(x.strip() for x in first.splitlines() if x.strip())
        proc, port = _serve(server_root, data)
        proxy: subprocess.Popen[bytes] | None = None
        try:
            _load_room(port)
            base = f"http://127.0.0.1:{port}"
            if "desktop" in profiles:
                desktop = _browser(base, line, runs)
                _rows(out, "first text desktop", desktop["first_text_ms"])
                _rows(out, "live doc synced desktop", desktop["synced_ms"])
            if "phone" in profiles:
                phone = _browser(base, line, runs, "--phone")
                _rows(out, "first text phone 4x CPU", phone["first_text_ms"])
                _rows(out, "live doc synced phone 4x CPU", phone["synced_ms"])
            if "slow" not in profiles:
                return out
            slow = free_port()
            throttle = ["-m", "bench.throttle", "--listen", str(slow), "--upstream", str(port)]
            proxy = subprocess.Popen([sys.executable, *throttle], cwd=ROOT)
            _wait_port(slow)
            slow_phone = _browser(f"http://127.0.0.1:{slow}", line, runs, "--phone", "--no-sync")
            _rows(out, "first text phone 4x CPU + slow 4G", slow_phone["first_text_ms"])
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(timeout=10)
            proc.terminate()
            proc.wait(timeout=30)
    return out


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a child process
    raise RuntimeError(f"throttle proxy did not listen on {port}")


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default=",".join(PROFILES), help="of desktop,phone,slow")
    parser.add_argument("--server-root", type=Path, default=ROOT, help="checkout to run")
    args = parser.parse_args()
    result = measure(args.runs, args.server_root.resolve(), tuple(args.profiles.split(",")))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()

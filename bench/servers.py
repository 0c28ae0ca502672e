"""Start the servers under test as their own processes on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from sandbox.types import TEST_IMAGE

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    ws_url: str
    tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    # With Docker terminals every loaded room's workspace is a quota mount: a clean stop
    # unmounts hundreds of them, which takes longer than a plain one.
    stop_timeout: float = 15

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            _unmount_under(self.tmp.name)  # what a killed server left mounted
            self.tmp.cleanup()


def _unmount_under(root: str) -> None:
    prefix = os.path.realpath(root) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


# Generous: on a shared two-core machine beside the `--noisy` hogs, start-up alone can take 30 s.
START_TIMEOUT = 120


def _wait_http(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()  # never left running behind a failed start
    proc.wait()
    raise TimeoutError("server did not answer")


def start_tandem(database_url: str | None = None, *, sandbox: bool = False) -> Server:
    """Tandem with persistence on (SQLite under a fresh data directory unless a URL is given).

    `sandbox`: Docker terminals on (the busybox test image, never a debootstrap build beside the
    measurement) with the workspace quota as configured by default, so each room's file sync runs
    on what a container would see; the references have no terminals."""
    tmp = tempfile.TemporaryDirectory(prefix="tandem-bench-")
    port = free_port()
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", tmp.name]
    args += ["--sandbox", "docker" if sandbox else "off"]
    if database_url:
        args += ["--database-url", database_url]
    # Every load-generator client connects from 127.0.0.1: lift the per-IP connection cap.
    env = {**os.environ, "TANDEM_LOG_LEVEL": "warning", "TANDEM_CONNECTIONS_PER_IP": "1000000"}
    if sandbox:
        env |= {"TANDEM_SANDBOX_IMAGE": TEST_IMAGE, "TANDEM_SANDBOX_INSTANCE": f"bench-{port}"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    name = "tandem-sandbox" if sandbox else "tandem"
    server = Server(name, proc, f"ws://127.0.0.1:{port}/yjs", tmp, stop_timeout=120 if sandbox else 15)
    try:
        _wait_http(port, proc)
    except BaseException:
        server.stop()  # a server that never answered must not outlive the benchmark
        raise
    return server


def start_pycrdt_websocket() -> Server:
    """pycrdt-websocket 0.16.5's ASGIServer under uvicorn with its defaults (in memory)."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bench.reference_pycrdt:app", "--port", str(port)]
    args += ["--log-level", "warning"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server("pycrdt-websocket", proc, f"ws://127.0.0.1:{port}/yjs")
    try:
        _wait_http(port, proc, "/")
    except BaseException:
        server.stop()
        raise
    return server


def start_node_reference() -> Server:
    """@y/websocket-server 0.1.1's own connection handler (in memory)."""
    proc = subprocess.Popen(
        ["node", str(NODE_DIR / "reference-server.mjs"), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    info = json.loads(line)
    return Server("y-websocket-server", proc, info["url"])


STARTERS = {
    "tandem": start_tandem,
    "pycrdt-websocket": start_pycrdt_websocket,
    "y-websocket-server": start_node_reference,
}
# Asked for by name (`--targets tandem tandem-sandbox y-websocket-server`): Docker terminals on.
OPTIONAL_STARTERS = {"tandem-sandbox": partial(start_tandem, sandbox=True)}

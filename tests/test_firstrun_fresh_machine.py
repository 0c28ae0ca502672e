"""The README's first command on a fresh machine: `bash scripts/serve.sh`, as written, in a
throwaway Debian container made from the project's own minbase image — Python from Debian, no
Docker socket, nothing installed. The editor comes up (`/healthz`), `/api/sandbox` says why
terminals are off, and a second start skips pip, npm and the front-end build.

Slow by nature (apt, pip and npm download for real: minutes), so it is one test. The minbase image
is built with the real debootstrap path the first time (its root filesystem cached under
~/.cache/tandem-tests, so later runs take seconds) and kept under its own tag.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from sandbox.images import build_default_image_async
from tests.support import ROOT, free_port, wait_until

pytestmark = pytest.mark.docker

IMAGE = "tandem-firstrun-debian:latest"
CACHE = Path.home() / ".cache" / "tandem-tests"
CA = "/etc/ssl/certs/ca-certificates.crt"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Iterator[Path]:
    """A clone of this commit (what a newcomer gets from `git clone`)."""
    clone = tmp_path / "tandem"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)], check=True)
    yield clone


def _up(port: int, container: str) -> bool:
    running = _docker("inspect", "-f", "{{.State.Running}}", container, check=False).stdout.strip()
    if running != "true":
        raise RuntimeError(
            f"the container stopped:\n{_docker('logs', container, check=False).stdout[-4000:]}"
        )
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(2400)
def test_serve_sh_on_a_fresh_debian(fresh_clone: Path) -> None:
    anyio.run(lambda: build_default_image_async(IMAGE, if_missing=True, cache_dir=CACHE))
    port = free_port()
    name = f"tandem-firstrun-{uuid.uuid4().hex[:8]}"
    # As written in the README; the port comes from the environment so the command stays the same.
    command = "exec bash scripts/serve.sh >>/src/serve.log 2>&1"
    _docker(
        "create", "--name", name, "--user", "0", "--network", "host",
        "-v", "/etc/ssl/certs:/etc/ssl/certs:ro", "-v", f"{fresh_clone}:/src", "-w", "/src",
        "-e", f"PIP_CERT={CA}", "-e", f"NODE_EXTRA_CA_CERTS={CA}", "-e", f"NPM_CONFIG_CAFILE={CA}",
        "-e", f"TANDEM_PORT={port}", "-e", "HOME=/root",
        IMAGE, "bash", "-c", command,
    )  # fmt: skip
    log = fresh_clone / "serve.log"
    try:
        t0 = time.monotonic()
        _docker("start", name)
        wait_until(lambda: _up(port, name), 1800, interval=1, what="the first start to answer /healthz")
        first = time.monotonic() - t0
        status = httpx.get(f"http://127.0.0.1:{port}/api/sandbox", timeout=5).json()
        assert status["enabled"] is False and status["reason"], status
        assert status["phase"] in ("installing_engine", "waiting_for_engine"), status
        first_log = log.read_text(errors="replace")
        assert "Traceback" not in first_log

        _docker("stop", "-t", "20", name)
        t1 = time.monotonic()
        _docker("start", name)
        wait_until(lambda: _up(port, name), 300, interval=0.5, what="the second start to answer /healthz")
        second = time.monotonic() - t1
        second_log = log.read_text(errors="replace")[len(first_log) :]
        for skipped in ("Python packages up to date", "npm packages up to date", "front end up to date"):
            assert skipped in second_log, second_log
        status = httpx.get(f"http://127.0.0.1:{port}/api/sandbox", timeout=5).json()
        assert status["enabled"] is False and status["reason"], status
        print(f"fresh Debian: first start to /healthz {first:.0f}s, second {second:.1f}s; sandbox: {status}")
    finally:
        if log.exists():
            print(log.read_text(errors="replace")[-3000:])
        _docker("rm", "-f", name, check=False)

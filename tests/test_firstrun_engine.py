"""A missing or broken Docker engine never stops `tandem serve`: terminals are off with a
one-line reason and a hint in `/api/sandbox`, editing works, and `TANDEM_SANDBOX=docker` is a
start-up error in one line (no traceback). Each engine state is produced for real where this
machine can (a missing socket, a stopped daemon) and by a fake engine where only a misbehaving
engine can (errors, no answer)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from sandbox.engine import HINT_INSTALL, HINT_PERMISSION, HINT_START, classify
from tests.fake_engine import closed_socket, fake_engine
from tests.support import ROOT, TandemServer, running_server, wait_until


def _status(server: TandemServer) -> dict[str, Any]:
    return httpx.get(server.http_url + "/api/sandbox", timeout=5).json()  # type: ignore[no-any-return]


def _off_with(tmp_path: Path, docker_host: str, **env: str) -> dict[str, Any]:
    """Start a server on `auto` against `docker_host`; the status it settles on, editing checked."""
    environment = {"TANDEM_SANDBOX": "auto", "DOCKER_HOST": docker_host, **env}
    with running_server(tmp_path / "data", None, env=environment) as server:
        assert httpx.get(server.http_url + "/healthz", timeout=5).status_code == 200
        page = httpx.get(server.http_url + "/s/editing-works", timeout=5)
        assert page.status_code == 200
        status = wait_until(lambda: (s := _status(server))["reason"] and s, 20, what="a reason")
        assert server.proc is not None and server.proc.poll() is None
        assert "Traceback" not in server.log()
    assert status["enabled"] is False and status["mode"] == "auto"
    assert status["phase"] == "waiting_for_engine"
    assert "\n" not in status["reason"] and status["hint"]
    return status


def test_missing_socket(tmp_path: Path) -> None:
    status = _off_with(tmp_path, f"unix://{tmp_path}/no-such.sock")
    assert "does not exist" in status["reason"] and status["hint"] == HINT_START


def test_stopped_daemon(tmp_path: Path) -> None:
    status = _off_with(tmp_path, closed_socket(tmp_path / "stopped.sock"))
    assert "is not running" in status["reason"] and status["hint"] == HINT_START


def test_engine_answering_errors(tmp_path: Path) -> None:
    with fake_engine(tmp_path / "error.sock", "error") as url:
        status = _off_with(tmp_path, url)
    assert "answered an error: 500" in status["reason"]


def test_engine_that_never_answers(tmp_path: Path) -> None:
    with fake_engine(tmp_path / "hang.sock", "hang") as url:
        status = _off_with(tmp_path, url, TANDEM_SANDBOX_ENGINE_TIMEOUT_SECONDS="1")
    assert "did not answer within 1s" in status["reason"]


def test_required_sandbox_is_a_one_line_start_up_error(tmp_path: Path) -> None:
    env = {
        "TANDEM_SANDBOX": "docker",
        "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--port", "9", "--data", str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "TANDEM_SANDBOX=docker, but the Docker socket" in done.stderr and "does not exist" in done.stderr


def test_no_socket_and_permission_denied_have_their_own_reasons() -> None:
    # aiodocker asserts when it finds no socket at all, and a root test process cannot be refused a
    # socket: the classification of those two failures is checked here, the rest above for real.
    assert classify(AssertionError(), 10).hint == HINT_INSTALL
    denied = classify(PermissionError(errno.EACCES, "Permission denied"), 10)
    assert denied.hint == HINT_PERMISSION and "permission denied" in denied.reason


def test_build_on_request_turns_terminals_on(tmp_path: Path) -> None:
    """Building missing images is off: the panel's control (POST /api/sandbox/build) starts it."""
    import uuid

    import anyio

    from tests.termclient import ensure_engine_and_image, remove_containers, sandbox_env

    anyio.run(ensure_engine_and_image)
    tag = f"tandem-firstrun-{uuid.uuid4().hex[:8]}:latest"
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    env = {
        **sandbox_env(instance, "auto"),
        "TANDEM_SANDBOX_IMAGE": tag,
        "TANDEM_SANDBOX_BUILD_MISSING": "false",
        "TANDEM_SANDBOX_BUILD_KIND": "test",
        "TANDEM_SANDBOX_PROBE_INTERVAL_SECONDS": "0.5",
    }
    try:
        with running_server(tmp_path / "data", None, env=env) as server:
            missing = _status(server)
            assert missing["phase"] == "image_missing" and missing["can_retry"] is True
            assert "tandem sandbox build-image" in missing["hint"]
            started = httpx.post(server.http_url + "/api/sandbox/build", timeout=5)
            assert started.status_code == 202, started.text
            wait_until(lambda: _status(server)["enabled"], 60, what="terminals on after the build")
            again = httpx.post(server.http_url + "/api/sandbox/build", timeout=5)
            assert again.status_code == 409  # nothing to build any more
    finally:
        anyio.run(remove_containers, instance)
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)

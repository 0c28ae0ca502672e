"""Browser tests: one real `tandem serve` for the module — the default, authenticated server
(accounts, share links), as every user runs it; `--no-auth` only where that mode is the point —
Debian's Chromium driven by playwright-core from Node (web/node_modules), the front end built by
web/build.mjs. Scenarios get their rooms through the UI (tests/browser/harness.mjs: sign up, New
session, Invite, join by link)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from tests.support import ROOT, TandemServer, running_server
from tests.termclient import ensure_engine_and_image, remove_containers, sandbox_env

WEB = ROOT / "web"
HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")


def _stale(manifest: Path) -> bool:
    """The bundle is missing or older than a source file."""
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [*(WEB / "src").rglob("*"), WEB / "build.mjs", WEB / "package-lock.json"]
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def built_web() -> Path:
    """The built front end (`npm ci && node build.mjs` in web/ when it is missing or stale)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the browser tests drive Chromium from Node")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    manifest = WEB / "static" / "dist" / "manifest.json"
    if _stale(manifest):
        subprocess.run([node, "build.mjs"], cwd=WEB, check=True, capture_output=True)
    return manifest


@pytest.fixture(scope="module")
def web_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """The default server: accounts on. Terminals off: these scenarios check the page's "not
    available" state; the terminal panel against a real sandbox is covered with the terminals."""
    data = tmp_path_factory.mktemp("browser-data")
    with running_server(data, None, auth=True, env={"TANDEM_SANDBOX": "off"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def noauth_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """`tandem serve --no-auth`: only for what that mode itself offers (a name and colour picked on
    the landing page, any room name opening a room)."""
    data = tmp_path_factory.mktemp("browser-noauth")
    with running_server(data, None, env={"TANDEM_SANDBOX": "off"}) as srv:
        yield srv


@contextmanager
def authed_sandbox_server(data: Path, **env: str) -> Iterator[TandemServer]:
    """The default, authenticated server with real Docker terminals on the busybox test image
    (a unique TANDEM_SANDBOX_INSTANCE whose containers are removed afterwards)."""
    anyio.run(ensure_engine_and_image)
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    try:
        with running_server(data, None, auth=True, env={**sandbox_env(instance), **env}) as srv:
            yield srv
    finally:
        anyio.run(remove_containers, instance)


def run_scenario(
    name: str, base_url: str, timeout: float = 150, script: str = "scenarios.mjs"
) -> dict[str, object]:
    """Run one Node scenario of `script`; its last stdout line is a JSON summary."""
    import json

    proc = subprocess.run(
        ["node", str(HERE / script), name, base_url],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"scenario {name} failed (exit {proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))

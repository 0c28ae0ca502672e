"""A server started without its sandbox image builds it in the background; a page already open
follows the build in its terminal panel and gets a live shell when it is done, without a reload.

The build makes the busybox test image under a tag unique to this test (never the shared test
image), so it takes seconds. While the test holds the build lock, the server reports the build as
running elsewhere (the guard against two builders); releasing it lets the server build itself.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import aiodocker
import anyio
import httpx
import pytest

from backend.terminals.image_build import BuildLock
from tests.browser.conftest import HERE
from tests.support import TandemServer, wait_until
from tests.termclient import remove_containers, sandbox_env

pytestmark = [pytest.mark.browser, pytest.mark.docker]


async def _remove_image(tag: str) -> None:
    async with aiodocker.Docker() as docker:
        try:
            await docker.images.delete(tag, force=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise


def test_open_page_turns_into_a_shell_when_the_image_is_built(built_web: Path, tmp_path: Path) -> None:
    tag = f"tandem-firstrun-{uuid.uuid4().hex[:8]}:latest"
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    lock = BuildLock(data / "sandbox" / "build.lock")
    assert lock.try_acquire()
    env = {
        **sandbox_env(instance, "auto"),
        "TANDEM_SANDBOX_IMAGE": tag,
        "TANDEM_SANDBOX_BUILD_KIND": "test",
        "TANDEM_SANDBOX_PROBE_INTERVAL_SECONDS": "0.5",
    }
    server = TandemServer(data, None, env=env).start()
    signal = tmp_path / "page-shows-build"
    scenario = None
    try:
        status = lambda: httpx.get(server.http_url + "/api/sandbox", timeout=5).json()  # noqa: E731
        first = wait_until(lambda: (s := status())["phase"] == "building_image" and s, 20, what="building")
        assert first["enabled"] is False and "another Tandem process" in first["reason"]
        scenario = subprocess.Popen(
            ["node", str(HERE / "firstrun.mjs"), "buildThenShell", server.http_url],
            cwd=HERE,
            env={**__import__("os").environ, "TANDEM_SIGNAL_FILE": str(signal)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(
            lambda: signal.exists() or scenario.poll() is not None, 90, what="the page to show the build"
        )
        assert signal.exists(), scenario.communicate()[1]
        lock.release()
        phases: list[str] = []

        def ready() -> bool:
            s = status()
            if not phases or phases[-1] != s["phase"]:
                phases.append(s["phase"])
            return bool(s["enabled"])

        wait_until(ready, 120, interval=0.05, what="terminals on")
        assert phases[-1] == "ready" and "ready" not in phases[:-1]
        out, err = scenario.communicate(timeout=180)
        assert scenario.returncode == 0, f"{err}\n{out}"
        result = json.loads(out.strip().splitlines()[-1])
        print("first run: phases", phases, "; page to shell after the build started ms:", result["toShellMs"])
        assert "Traceback" not in server.log()
    finally:
        lock.release()
        if scenario is not None and scenario.poll() is None:
            scenario.kill()
        server.stop()
        anyio.run(remove_containers, instance)
        anyio.run(_remove_image, tag)


def test_a_shell_replaced_by_a_server_restart_says_so_in_the_panel(
    built_web: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.browser.conftest import run_scenario
    from tests.termclient import sandbox_server

    data = tmp_path / "data"
    monkeypatch.setenv("TANDEM_ROOM", f"replaced-{uuid.uuid4().hex[:8]}")  # the scenarios' room
    with sandbox_server(data) as first:
        run_scenario("typeMarker", first.http_url, script="firstrun.mjs")
    with sandbox_server(data) as second:
        print(run_scenario("seeReplaced", second.http_url, script="firstrun.mjs")["line"])

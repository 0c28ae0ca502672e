"""The shared terminal in real Chromium against a real server with Docker terminals (the busybox
test image): typing and output for everyone, attribution marks, a viewer that cannot type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import authed_sandbox_server, run_scenario
from tests.support import TandemServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def term_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    # The default, authenticated server; a unique TANDEM_SANDBOX_INSTANCE, removed afterwards.
    with authed_sandbox_server(tmp_path_factory.mktemp("browser-term")) as srv:
        yield srv


def test_shared_terminal_output_attribution_and_viewer(term_server: TandemServer) -> None:
    result = run_scenario("terminal", term_server.http_url, timeout=180)
    print("terminal: output on the other screen ms:", result["outputToRemoteMs"])


@pytest.fixture(scope="module")
def one_sandbox_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_MAX_ACTIVE_SANDBOXES": "1", "TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "1"}
    with authed_sandbox_server(tmp_path_factory.mktemp("browser-term-limit"), **env) as srv:
        yield srv


def test_one_sandbox_too_many_is_explained_in_the_panel_and_retried(one_sandbox_server: TandemServer) -> None:
    run_scenario("sandboxLimit", one_sandbox_server.http_url, timeout=240)

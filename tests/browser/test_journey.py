"""The newcomer's journey end to end in real Chromium, through the UI only, on a fresh data
directory with the default authenticated server and real Docker terminals (journey.mjs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import authed_sandbox_server, run_scenario
from tests.support import TandemServer

pytestmark = [pytest.mark.browser, pytest.mark.docker]


@pytest.fixture(scope="module")
def journey_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with authed_sandbox_server(tmp_path_factory.mktemp("journey-data")) as srv:
        yield srv


def test_sign_up_invite_co_edit_share_terminal_phone_viewer_revoke(journey_server: TandemServer) -> None:
    result = run_scenario("journey", journey_server.http_url, timeout=300, script="journey.mjs")
    print("journey steps ms:", result["steps"], "revoke to 'lost access' ms:", result["revokeToLostMs"])
    assert result["known"] == [], result["known"]

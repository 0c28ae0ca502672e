"""The History panel in real Chromium: checkpoint, diff, restore a file while two editors are in
the room; both converge on the restored content and keep editing; the history lists the restore."""

from __future__ import annotations

import pytest

from tests.browser.conftest import run_scenario
from tests.support import TandemServer

pytestmark = pytest.mark.browser


def test_history_panel_restores_a_file_for_everyone(web_server: TandemServer) -> None:
    result = run_scenario("restore", web_server.http_url, script="history.mjs")
    print("versions listed:", result["versions"])

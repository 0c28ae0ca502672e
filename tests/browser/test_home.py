"""Home (my sessions), the session title and the People list in real Chromium against the default
(authenticated) server, through the UI only (home.mjs)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import run_scenario
from tests.support import TandemServer

pytestmark = pytest.mark.browser


def test_home_lists_renames_leaves_and_deletes_sessions(web_server: TandemServer) -> None:
    run_scenario("home", web_server.http_url, script="home.mjs")


def test_owner_renames_the_session_in_the_top_bar_for_everyone(web_server: TandemServer) -> None:
    run_scenario("title", web_server.http_url, script="home.mjs")


def test_owner_changes_a_role_and_removes_someone_live(web_server: TandemServer) -> None:
    run_scenario("people", web_server.http_url, script="home.mjs")

"""Two people (and a phone) in one room, in real Chromium against the default (authenticated)
server; each scenario gets its room through the UI (sign up, New session, Invite, join by link)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import run_scenario
from tests.support import TandemServer

pytestmark = pytest.mark.browser


def test_landing_picks_identity_and_starts_a_session(noauth_server: TandemServer) -> None:
    # `--no-auth` is the point: a name and colour picked on the landing page, any room name a room.
    run_scenario("landing", noauth_server.http_url)


def test_typing_and_remote_cursor_label(web_server: TandemServer) -> None:
    result = run_scenario("typing", web_server.http_url)
    print("typing to remote screen ms:", result["typingToRemoteMs"], "first file ms:", result["firstFileMs"])


def test_rename_moves_tree_and_tab_for_everyone(web_server: TandemServer) -> None:
    run_scenario("rename", web_server.http_url)


def test_undo_is_per_user(web_server: TandemServer) -> None:
    run_scenario("undo", web_server.http_url)


def test_follow_mode_tracks_file_and_scroll_until_escape_or_typing(web_server: TandemServer) -> None:
    run_scenario("follow", web_server.http_url)


def test_comment_stays_on_its_code(web_server: TandemServer) -> None:
    run_scenario("comments", web_server.http_url)


def test_phone_viewer_pwa_and_offline_reload(web_server: TandemServer) -> None:
    result = run_scenario("mobile", web_server.http_url)
    print("phone first file visible ms:", result["firstFileVisibleMs"])

"""One identity, roles in the UI, files and presence overflow, on the authenticated server
(tests/browser/identity.mjs)."""

from __future__ import annotations

import pytest

from tests.browser.ui_support import Room, auth_server, run_ui
from tests.support import TandemServer

__all__ = ["auth_server"]

pytestmark = pytest.mark.browser


def test_one_identity_everywhere(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    room.guest("Bob", "editor")
    print(run_ui("identity.mjs", "identity", auth_server.http_url, room.setup()))


def test_controls_follow_the_role_and_refused_changes_do_not_stay(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    room.guest("Vera", "viewer")
    room.guest("Cora", "commenter")
    run_ui("identity.mjs", "roles", auth_server.http_url, room.setup())


def test_new_folder_and_file_appear_after_enter(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    run_ui("identity.mjs", "files", auth_server.http_url, room.setup())


def test_an_emoji_name_has_a_whole_emoji_avatar(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    emoji = room.guest("\N{FOX FACE} Fox", "editor")
    run_ui("identity.mjs", "emojiname", auth_server.http_url, room.setup(emoji=emoji))


def test_presence_overflows_as_plus_n(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    crowd = [room.guest(n, "viewer") for n in ["Ann", "Ben", "Cai", "Dee", "Eve", "Fay"]]
    run_ui("identity.mjs", "overflow", auth_server.http_url, room.setup(crowd=crowd))


def test_big_tree_renders_only_rows_in_view(auth_server: TandemServer) -> None:
    room = Room(auth_server.http_url)
    run_ui("identity.mjs", "bigtree", auth_server.http_url, room.setup())

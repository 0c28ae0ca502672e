"""The home list (`GET /api/home`) and leaving a session (`DELETE /api/sessions/{id}/membership`),
against a real server with accounts: owned, joined and guest sessions, who is online from the
live room, last activity, and a leave that closes the leaver's open connection."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import pytest

from tests.access_client import Http, yclient
from tests.support import TandemServer

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
LIVE_DEADLINE = 3.0  # access changes reach open connections within a second (poll 0.5 s)


def account(server: TandemServer, prefix: str) -> Http:
    http = Http(server.http_url)
    http.signup(f"{prefix}-{uuid.uuid4().hex[:6]}", PASSWORD)
    return http


def new_session(owner: Http, title: str) -> str:
    r = owner.post("/api/sessions", json={"title": title})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def new_link(owner: Http, sid: str, role: str) -> dict[str, Any]:
    r = owner.post(f"/api/sessions/{sid}/links", json={"role": role})
    assert r.status_code == 201, r.text
    return dict(r.json())


def home(http: Http) -> dict[str, Any]:
    r = http.get("/api/home")
    assert r.status_code == 200, r.text
    return dict(r.json())


def listed(http: Http) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in home(http)["sessions"]}


async def test_owned_and_joined_sessions_with_who_is_online(auth_server: TandemServer) -> None:
    owner = account(auth_server, "home-owner")
    member = account(auth_server, "home-member")
    mine = new_session(owner, "Mine")
    theirs = new_session(member, "Theirs")
    link = new_link(owner, mine, "commenter")
    assert member.post(f"/api/join/{link['token']}").status_code == 200

    seen = listed(member)
    assert seen[theirs]["role"] == "owner" and seen[theirs]["online"] == []
    assert (
        seen[mine]["role"] == "commenter"
        and seen[mine]["owner"] == owner.get("/api/auth/me").json()["username"]
    )
    assert seen[mine]["guest"] is False and seen[mine]["last_activity"] is not None
    assert mine not in listed(account(auth_server, "home-stranger"))

    # Two connections of the owner and one of the member: two people online, by name.
    ws = auth_server.ws_url
    async with (
        yclient(ws, mine, cookie=owner.cookie_header()) as a1,
        yclient(ws, mine, cookie=owner.cookie_header()) as a2,
        yclient(ws, mine, cookie=member.cookie_header()) as m,
    ):
        for client in (a1, a2, m):
            with anyio.fail_after(10):
                await client.synced.wait()
            await client.set_awareness({"user": {"name": "someone else"}, "file": None})
        names = sorted(
            [owner.get("/api/auth/me").json()["username"], member.get("/api/auth/me").json()["username"]]
        )

        deadline = time.monotonic() + 10
        while sorted(listed(member)[mine]["online"]) != names:
            assert time.monotonic() < deadline, listed(member)[mine]
            await anyio.sleep(0.05)
        # The plain list of the API says the same.
        plain = {s["id"]: s for s in owner.get("/api/sessions").json()}
        assert sorted(plain[mine]["online"]) == names
    # The room unloads once empty: nobody online.
    deadline = time.monotonic() + 10
    while listed(owner)[mine]["online"]:
        assert time.monotonic() < deadline, listed(owner)[mine]
        await anyio.sleep(0.05)


async def test_a_guest_sees_their_session_while_the_pass_lasts(auth_server: TandemServer) -> None:
    owner = account(auth_server, "home-owner")
    sid = new_session(owner, "For a guest")
    link = new_link(owner, sid, "viewer")
    guest = Http(auth_server.http_url)
    assert home(guest) == {"account": None, "first_run": False, "sessions": []}
    guest.join(link["token"], "Gina")

    seen = listed(guest)
    assert list(seen) == [sid]
    assert (
        seen[sid]["guest"] is True and seen[sid]["role"] == "viewer" and seen[sid]["title"] == "For a guest"
    )

    assert owner.delete(f"/api/sessions/{sid}/links/{link['id']}").status_code == 204
    assert listed(guest) == {}


async def test_leaving_closes_my_connection_and_drops_the_session_from_my_list(
    auth_server: TandemServer,
) -> None:
    owner = account(auth_server, "home-owner")
    member = account(auth_server, "home-member")
    sid = new_session(owner, "To leave")
    link = new_link(owner, sid, "editor")
    assert member.post(f"/api/join/{link['token']}").status_code == 200
    assert sid in listed(member)

    async with yclient(auth_server.ws_url, sid, cookie=member.cookie_header()) as conn:
        with anyio.fail_after(10):
            await conn.synced.wait()
        r = member.delete(f"/api/sessions/{sid}/membership")
        assert r.status_code == 204, r.text
        with anyio.fail_after(LIVE_DEADLINE):
            await conn.closed.wait()
        assert conn.close_code == 4403

    assert sid not in listed(member)
    assert member.get(f"/s/{sid}").status_code == 403
    kinds = [e["kind"] for e in owner.get(f"/api/sessions/{sid}/audit").json()]
    assert "leave_session" in kinds
    # Leaving again, or leaving without the CSRF header, is refused; the owner cannot leave.
    assert member.delete(f"/api/sessions/{sid}/membership").status_code == 403
    no_csrf = member.client.delete(f"/api/sessions/{sid}/membership")
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    refused = owner.delete(f"/api/sessions/{sid}/membership")
    assert refused.status_code == 422 and "owner" in refused.json()["detail"]
    assert sid in listed(owner)


async def test_a_guest_leaves_and_the_pass_is_gone(auth_server: TandemServer) -> None:
    owner = account(auth_server, "home-owner")
    sid = new_session(owner, "Guest leaves")
    link = new_link(owner, sid, "commenter")
    guest = Http(auth_server.http_url)
    guest.join(link["token"], "Gus")
    assert sid in listed(guest)
    r = guest.delete(f"/api/sessions/{sid}/membership")
    assert r.status_code == 204, r.text
    assert f"tandem_guest_{sid}" not in guest.client.cookies
    assert listed(guest) == {}
    assert "Gus" not in [p["name"] for p in owner.get(f"/api/sessions/{sid}/participants").json()]


async def test_room_page_and_home_page_carry_the_title(auth_server: TandemServer) -> None:
    owner = account(auth_server, "home-owner")
    sid = new_session(owner, "Title <shown> here")
    page = owner.get(f"/s/{sid}")
    assert page.status_code == 200
    assert 'data-title="Title &lt;shown&gt; here"' in page.text
    assert owner.patch(f"/api/sessions/{sid}", json={"title": "Renamed"}).status_code == 200
    assert 'data-title="Renamed"' in owner.get(f"/s/{sid}").text
    assert listed(owner)[sid]["title"] == "Renamed"
    landing = owner.get("/")
    assert (
        landing.status_code == 200
        and 'id="new-session"' in landing.text
        and "tandem_csrf" in owner.client.cookies
    )

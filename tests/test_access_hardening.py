"""Access hardening against a real server: login attempts counted atomically (concurrent guesses
and username spraying), signups and joins throttled, lookalike names refused, and `?token=`
connections ended when their link expires or is used up."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.access_client import Http, yclient
from tests.signalclient import SignalClient
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
LIVE_DEADLINE = 5.0  # the watcher polls every 0.5 s; slack for a loaded CI machine


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TandemServer]:
    env = {
        "TANDEM_LOGIN_MAX_ATTEMPTS": "5",
        "TANDEM_LOGIN_IP_MAX_ATTEMPTS": "12",
        "TANDEM_SIGNUP_MAX_PER_IP": "3",
        "TANDEM_JOIN_MAX_PER_IP": "4",
    }
    with running_server(tmp_path / "data", None, auth=True, env=env) as server:
        yield server


async def _wrong_logins(base: str, usernames: list[str]) -> Counter[int]:
    """Every attempt at once, from one client (one IP), each with a wrong password and a made-up
    X-Forwarded-For (no proxy is trusted: it must not buy a fresh address)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        csrf = (await client.get("/api/auth/csrf")).json()["csrf_token"]
        statuses: Counter[int] = Counter()
        forged = itertools.count(1)

        async def attempt(username: str) -> None:
            r = await client.post(
                "/api/auth/login",
                json={"username": username, "password": "wrong password!"},
                headers={"x-csrf-token": csrf, "x-forwarded-for": f"203.0.113.{next(forged) % 250}"},
            )
            statuses[r.status_code] += 1

        async with anyio.create_task_group() as tg:
            for username in usernames:
                tg.start_soon(attempt, username)
    return statuses


async def test_concurrent_guesses_get_exactly_the_limit_and_spraying_hits_the_ip_limit(
    limited: TandemServer,
) -> None:
    owner = Http(limited.http_url)
    victim = _name("victim")
    owner.signup(victim, PASSWORD)
    # 100 concurrent guesses at one account: 5 password checks (401), the rest refused (429).
    got = await _wrong_logins(limited.http_url, [victim] * 100)
    assert got == Counter({401: 5, 429: 95}), got
    # Spraying other usernames from the same address: the address's own window (12) runs out.
    got = await _wrong_logins(limited.http_url, [_name("spray") for _ in range(30)])
    assert got == Counter({401: 12 - 5, 429: 30 - 7}), got
    # The right password from this address is refused too, until the window passes.
    r = Http(limited.http_url).login(victim, PASSWORD)
    assert r.status_code == 429 and "try again" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 0


async def test_right_passwords_give_their_attempts_back(limited: TandemServer) -> None:
    owner = Http(limited.http_url)
    name = _name("nat")
    owner.signup(name, PASSWORD)
    for _ in range(20):  # more than both windows: people typing their password right never lock out
        assert Http(limited.http_url).login(name, PASSWORD).status_code == 200


async def _concurrently(base: str, calls: list[tuple[str, dict[str, str]]]) -> Counter[int]:
    """POST each (path, json) at once, each from a fresh client of this one IP."""
    statuses: Counter[int] = Counter()

    async def post(path: str, body: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            csrf = (await client.get("/api/auth/csrf")).json()["csrf_token"]
            r = await client.post(path, json=body, headers={"x-csrf-token": csrf})
            statuses[r.status_code] += 1

    async with anyio.create_task_group() as tg:
        for path, body in calls:
            tg.start_soon(post, path, body)
    return statuses


async def test_concurrent_signups_are_throttled_per_ip(limited: TandemServer) -> None:
    calls = [("/api/auth/signup", {"username": _name("user"), "password": PASSWORD}) for _ in range(8)]
    got = await _concurrently(limited.http_url, calls)
    assert got == Counter({201: 3, 429: 5}), got
    page = Http(limited.http_url).client.post("/signup", data={"username": _name("y"), "password": PASSWORD})
    assert page.status_code == 429  # the form route counts in the same window


async def test_concurrent_joins_are_throttled_per_ip(limited: TandemServer) -> None:
    owner = Http(limited.http_url)
    owner.signup(_name("owner"), PASSWORD)
    sid = owner.post("/api/sessions", json={"title": "throttle"}).json()["id"]
    token = owner.post(f"/api/sessions/{sid}/links", json={"role": "viewer"}).json()["token"]
    got = await _concurrently(
        limited.http_url, [(f"/api/join/{token}", {"name": f"guest {i}"}) for i in range(8)]
    )
    assert got == Counter({200: 4, 429: 4}), got


# -- names -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(auth_server: TandemServer) -> tuple[Http, str, str]:
    """An owner, a session and an editor link's token."""
    owner = Http(auth_server.http_url)
    owner.signup(_name("owner"), PASSWORD)
    sid = owner.post("/api/sessions", json={"title": "names"}).json()["id"]
    token = owner.post(f"/api/sessions/{sid}/links", json={"role": "editor"}).json()["token"]
    return owner, sid, token


def test_lookalike_usernames_are_taken(auth_server: TandemServer) -> None:
    base = _name("carol")
    Http(auth_server.http_url).signup(base, PASSWORD)
    for lookalike in (
        base.upper(),
        base.replace("l", "1"),
        base.replace("o", "0"),
        base[:2] + "." + base[2:],
    ):
        r = Http(auth_server.http_url).post(
            "/api/auth/signup", json={"username": lookalike, "password": PASSWORD}
        )
        assert r.status_code == 409, (lookalike, r.text)
        assert base in r.json()["detail"]  # says which account it looks like


def test_a_guest_cannot_take_an_accounts_or_another_guests_name(
    auth_server: TandemServer, world: tuple[Http, str, str]
) -> None:
    owner, sid, token = world
    account = _name("dave")
    Http(auth_server.http_url).signup(account, PASSWORD)
    r = Http(auth_server.http_url).post(f"/api/join/{token}", json={"name": account.upper()})
    assert r.status_code == 422 and "account" in r.json()["detail"]
    guest = _name("Erin ")
    assert Http(auth_server.http_url).post(f"/api/join/{token}", json={"name": guest}).status_code == 200
    r = Http(auth_server.http_url).post(f"/api/join/{token}", json={"name": guest.lower().replace(" ", "")})
    assert r.status_code == 422 and "already called" in r.json()["detail"]
    # The join page says so too.
    page = Http(auth_server.http_url)
    form = page.get(f"/join/{token}")
    csrf = page.client.cookies.get("tandem_csrf")
    assert form.status_code == 200 and csrf
    r = page.client.post(f"/join/{token}", data={"name": account, "csrf_token": csrf})
    assert r.status_code == 422 and "pick another name" in r.text


async def test_a_token_connection_may_not_pass_for_an_account(
    auth_server: TandemServer, world: tuple[Http, str, str]
) -> None:
    _owner, sid, token = world
    account = _name("frank")
    Http(auth_server.http_url).signup(account, PASSWORD)
    async with yclient(auth_server.ws_url, sid, token=token, name=account.title()) as client:
        with anyio.fail_after(10):
            await client.closed.wait()
    assert client.close_code == 4400
    async with yclient(auth_server.ws_url, sid, token=token, name="A script") as client:
        with anyio.fail_after(10):
            await client.synced.wait()


# -- expiry and use-up on open connections -----------------------------------------------------


async def test_an_open_token_connection_ends_when_its_link_expires(
    auth_server: TandemServer, world: tuple[Http, str, str]
) -> None:
    owner, sid, _token = world
    link = owner.post(f"/api/sessions/{sid}/links", json={"role": "editor", "expires_in_seconds": 4}).json()
    async with (
        yclient(auth_server.ws_url, sid, token=link["token"]) as client,
        SignalClient.connect(auth_server.http_url, sid, token=link["token"]) as signal,
    ):
        with anyio.fail_after(10):
            await client.synced.wait()
        assert not client.closed.is_set()
        with anyio.fail_after(4 + LIVE_DEADLINE):
            await client.closed.wait()
        since_expiry = time.time() - _epoch(link["expires_at"])
        with anyio.fail_after(LIVE_DEADLINE), pytest.raises(ConnectionClosed) as closed:
            while True:
                await signal.ws.recv()
    assert client.close_code == 4403
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    print(f"closed {since_expiry:.2f}s after the link's expiry")


async def test_an_open_token_connection_ends_when_its_link_is_used_up(
    auth_server: TandemServer, world: tuple[Http, str, str]
) -> None:
    owner, sid, _token = world
    link = owner.post(f"/api/sessions/{sid}/links", json={"role": "editor", "max_uses": 1}).json()
    async with yclient(auth_server.ws_url, sid, token=link["token"]) as client:
        with anyio.fail_after(10):
            await client.synced.wait()
        joined = Http(auth_server.http_url).post(f"/api/join/{link['token']}", json={"name": _name("last ")})
        assert joined.status_code == 200
        with anyio.fail_after(LIVE_DEADLINE):
            await client.closed.wait()
    assert client.close_code == 4403


def _epoch(iso: str) -> float:
    from datetime import datetime

    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


# -- connections per principal -----------------------------------------------------------------


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[TandemServer]:
    env = {"TANDEM_CONNECTIONS_PER_PRINCIPAL_PER_ROOM": "3", "TANDEM_CONNECTIONS_PER_PRINCIPAL": "5"}
    with running_server(tmp_path / "data", None, auth=True, env=env) as server:
        yield server


async def test_one_principal_cannot_crowd_out_a_room(capped: TandemServer) -> None:
    from contextlib import AsyncExitStack

    from websockets.asyncio.client import connect

    owner = Http(capped.http_url)
    owner.signup(_name("owner"), PASSWORD)
    sids = [owner.post("/api/sessions", json={"title": f"cap {i}"}).json()["id"] for i in range(3)]
    token = owner.post(f"/api/sessions/{sids[0]}/links", json={"role": "viewer"}).json()["token"]
    viewer = Http(capped.http_url)
    viewer.join(token, "viewer")

    async def opened(sid: str, http: Http) -> bool:
        """True when a /yjs connection syncs; False when it is closed with 1013 first."""
        async with yclient(capped.ws_url, sid, cookie=http.cookie_header()) as client:
            with anyio.fail_after(10):
                while not (client.synced.is_set() or client.closed.is_set()):
                    await anyio.sleep(0.01)
            if client.closed.is_set():
                assert client.close_code == 1013, client.close_code
                return False
            return True

    async with AsyncExitStack() as stack:
        # The viewer's share of the room: two /yjs and one /signal, then the next is refused.
        for _ in range(2):
            client = await stack.enter_async_context(
                yclient(capped.ws_url, sids[0], cookie=viewer.cookie_header())
            )
            with anyio.fail_after(10):
                await client.synced.wait()
        signal_url = capped.ws_url.replace("/yjs", f"/signal/{sids[0]}")
        await stack.enter_async_context(
            connect(signal_url, additional_headers={"cookie": viewer.cookie_header()})
        )
        assert not await opened(sids[0], viewer)
        assert await opened(sids[0], owner)  # the owner still gets in
        # The owner's node-wide share: 3 + 2 across sessions, then the sixth is refused anywhere.
        for sid, n in ((sids[1], 3), (sids[2], 2)):
            for _ in range(n):
                client = await stack.enter_async_context(
                    yclient(capped.ws_url, sid, cookie=owner.cookie_header())
                )
                with anyio.fail_after(10):
                    await client.synced.wait()
        assert not await opened(sids[0], owner)
    # Closed connections give their share back (as soon as the server has seen them close).
    with anyio.fail_after(10):
        while not (await opened(sids[0], viewer) and await opened(sids[0], owner)):
            await anyio.sleep(0.05)

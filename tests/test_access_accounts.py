"""Accounts, CSRF, rate limiting, share-link limits, the CLI, the Origin check, and secrets at rest."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from sqlalchemy import text
from websockets.exceptions import InvalidStatus

from backend.settings import Settings
from backend.store.database import make_engine
from tests.access_client import Http, yclient
from tests.support import TandemServer
from tests.support import eventually as until

PASSWORD = "correct horse battery"


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def admin(auth_server: TandemServer) -> Http:
    http = Http(auth_server.http_url)
    account = http.signup(name("admin"), PASSWORD)
    assert account["is_admin"] is True  # the first account of a fresh install
    return http


def test_signup_login_logout(auth_server: TandemServer, admin: Http) -> None:
    user = Http(auth_server.http_url)
    username = name("bob")
    assert user.signup(username, PASSWORD)["is_admin"] is False
    assert user.post("/api/auth/signup", json={"username": username, "password": PASSWORD}).status_code == 409
    assert user.post("/api/auth/signup", json={"username": name("c"), "password": "short"}).status_code == 422
    cookie = user.client.cookies.get("tandem_login")
    assert user.get("/api/auth/me").json()["username"] == username
    assert user.post("/api/auth/logout").status_code == 204
    # The old cookie is dead server-side, not just deleted in the browser.
    stale = httpx.get(auth_server.http_url + "/api/auth/me", cookies={"tandem_login": cookie})
    assert stale.status_code == 401
    assert user.login(username, "wrong password").status_code == 401
    assert user.login(username, PASSWORD).status_code == 200
    assert user.get("/api/auth/me").status_code == 200


def test_login_rate_limit(auth_server: TandemServer, admin: Http) -> None:
    user = Http(auth_server.http_url)
    username = name("target")
    user.signup(username, PASSWORD)
    attacker = Http(auth_server.http_url)
    codes = [attacker.login(username, f"guess {i}").status_code for i in range(5)]
    assert codes == [401] * 5
    limited = attacker.login(username, PASSWORD)  # even the right password, until the window passes
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert attacker.login(name("other"), "x" * 10).status_code == 401  # other usernames unaffected


def test_csrf_is_required(auth_server: TandemServer, admin: Http) -> None:
    no_header = admin.client.post("/api/sessions", json={"title": "x"})
    assert no_header.status_code == 403
    wrong = admin.client.post("/api/sessions", json={"title": "x"}, headers={"x-csrf-token": "A" * 43})
    assert wrong.status_code == 403
    forms = httpx.Client(base_url=auth_server.http_url)
    assert forms.post("/login", data={"username": "a", "password": "b"}).status_code == 403
    page = forms.get("/login")
    token = forms.cookies["tandem_csrf"]
    assert f'value="{token}"' in page.text
    ok = forms.post("/login", data={"username": "a", "password": "b", "csrf_token": token})
    assert ok.status_code == 401  # past CSRF: a wrong password now


def test_form_pages_signup_and_join(auth_server: TandemServer, admin: Http) -> None:
    sid = admin.post("/api/sessions", json={"title": "forms"}).json()["id"]
    link = admin.post(f"/api/sessions/{sid}/links", json={"role": "commenter"}).json()
    browser = httpx.Client(base_url=auth_server.http_url)
    page = browser.get(f"/join/{link['token']}")
    assert page.status_code == 200 and "commenter" in page.text and "forms" in page.text
    r = browser.post(
        f"/join/{link['token']}", data={"name": "Ann", "csrf_token": browser.cookies["tandem_csrf"]}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/s/{sid}"
    assert browser.cookies.get(f"tandem_guest_{sid}")
    me = browser.get(f"/api/sessions/{sid}").json()
    assert me["role"] == "commenter"
    assert browser.get(f"/join/{uuid.uuid4().hex}").status_code == 404

    signup = httpx.Client(base_url=auth_server.http_url)
    signup.get("/signup")
    username = name("form")
    r = signup.post(
        "/signup",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": signup.cookies["tandem_csrf"],
            "next": "//evil",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    assert signup.get("/api/auth/me").json()["username"] == username


def test_max_uses_and_shared_with_me(auth_server: TandemServer, admin: Http) -> None:
    sid = admin.post("/api/sessions", json={"title": "limited"}).json()["id"]
    link = admin.post(f"/api/sessions/{sid}/links", json={"role": "editor", "max_uses": 1}).json()
    member = Http(auth_server.http_url)
    member.signup(name("mem"), PASSWORD)
    assert member.post(f"/api/join/{link['token']}").json()["role"] == "editor"
    shared = member.get("/api/sessions", params={"which": "shared"}).json()
    assert [s["id"] for s in shared] == [sid] and member.get("/api/sessions?which=mine").json() == []
    late = Http(auth_server.http_url)
    assert late.post(f"/api/join/{link['token']}", json={"name": "late"}).status_code == 401
    assert late.get(f"/join/{link['token']}").status_code == 410


@pytest.mark.anyio
async def test_used_up_token_is_refused_on_yjs(auth_server: TandemServer, admin: Http) -> None:
    sid = admin.post("/api/sessions", json={"title": "once"}).json()["id"]
    link = admin.post(f"/api/sessions/{sid}/links", json={"role": "viewer", "max_uses": 1}).json()
    Http(auth_server.http_url).join(link["token"], "first")
    async with yclient(auth_server.ws_url, sid, token=link["token"]) as c:
        await until(lambda: c.closed.is_set())
    assert c.close_code == 4401


@pytest.mark.anyio
async def test_origin_check(auth_server: TandemServer, admin: Http) -> None:
    sid = admin.post("/api/sessions", json={"title": "origin"}).json()["id"]
    cookie = admin.cookie_header()
    with pytest.raises(InvalidStatus) as info:
        async with yclient(auth_server.ws_url, sid, cookie=cookie, origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403
    same_host = f"http://127.0.0.1:{auth_server.port}"
    async with yclient(auth_server.ws_url, sid, cookie=cookie, origin=same_host) as c:
        await until(lambda: c.synced.is_set())
    async with yclient(auth_server.ws_url, sid, cookie=cookie) as c:  # no Origin: a script
        await until(lambda: c.synced.is_set())


def test_cli(auth_server: TandemServer, admin: Http) -> None:
    username = name("ops")
    added = auth_server.cli("user", "add", username, input=PASSWORD + "\n")
    assert PASSWORD not in added.stdout + added.stderr
    ops = Http(auth_server.http_url)
    assert ops.login(username, PASSWORD).status_code == 200
    created = auth_server.cli("session", "create", "From the CLI", "--owner", username)
    sid = created.stdout.strip().splitlines()[-1]
    assert ops.get(f"/api/sessions/{sid}").json()["title"] == "From the CLI"
    out = auth_server.cli("link", "create", sid, "--role", "viewer", "--expires", "2h", "--max-uses", "3")
    url, token = out.stdout.strip().splitlines()[-2:]
    assert url.endswith(f"/join/{token}") and len(token) >= 43
    links = ops.get(f"/api/sessions/{sid}/links").json()
    assert links[0]["max_uses"] == 3 and links[0]["expires_at"] is not None
    assert auth_server.cli("link", "create", sid, "--role", "owner", check=False).returncode == 2
    assert (
        auth_server.cli(
            "link", "create", sid, "--role", "viewer", "--expires", "soon", check=False
        ).returncode
        == 2
    )
    assert auth_server.cli("session", "create", "x", "--owner", "nobody-here", check=False).returncode == 1
    auth_server.cli("link", "revoke", token)
    assert Http(auth_server.http_url).get(f"/join/{token}").status_code == 410
    assert auth_server.cli("link", "revoke", "not-a-token", check=False).returncode == 1


def test_secrets_at_rest_and_in_responses(auth_server: TandemServer, admin: Http, database_url: str) -> None:
    """Password hashes never leave the server (responses, logs); tokens are stored as SHA-256 only."""
    seen: list[str] = []
    user = Http(auth_server.http_url)
    username = name("secret")
    secret_password = "zebra-" + uuid.uuid4().hex
    seen.append(user.post("/api/auth/signup", json={"username": username, "password": secret_password}).text)
    seen.append(user.login(username, secret_password).text)
    seen.append(user.get("/api/auth/me").text)
    sid = user.post("/api/sessions", json={"title": "s"}).json()["id"]
    created = user.post(f"/api/sessions/{sid}/links", json={"role": "editor"})
    seen.append(created.text)
    token = created.json()["token"]
    guest = Http(auth_server.http_url)
    seen.append(guest.post(f"/api/join/{token}", json={"name": "g"}).text)
    for path in (
        f"/api/sessions/{sid}/participants",
        f"/api/sessions/{sid}/links",
        f"/api/sessions/{sid}/audit",
    ):
        seen.append(user.get(path).text)
    seen.append(auth_server.log())
    blob = "\n".join(seen)
    assert "$argon2" not in blob and secret_password not in blob

    secrets_ = {
        "link": token,
        "login": user.client.cookies["tandem_login"],
        "guest": guest.client.cookies[f"tandem_guest_{sid}"],
    }
    engine = make_engine(Settings(database_url=database_url).resolved_database_url())
    try:
        with engine.connect() as conn:
            dump = []
            for table in ("account", "login_token", "share_link", "guest", "audit_event", "session"):
                dump += [repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
            stored_hash = conn.execute(
                text("SELECT password_hash FROM account WHERE username = :u"), {"u": username}
            ).scalar_one()
    finally:
        engine.dispose()
    everything = "\n".join(dump)
    assert stored_hash.startswith("$argon2id$")
    for kind, secret in secrets_.items():
        assert secret not in everything, f"{kind} token stored in clear"
        assert hashlib.sha256(secret.encode()).hexdigest() in everything, f"{kind} token hash missing"

"""Login, signup and join limits hold across nodes: two real Tandem nodes on one Redis and one
PostgreSQL, with attempts spread over both, trip the same limits one node alone would."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.access_client import Http
from tests.scaleout_support import SHARED_REDIS, PrivateRedis, node_env, redis_prefix, start_all, stop_all
from tests.support import TandemServer, postgres_database, running_server, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "correct horse battery"
LIMITS = {
    "TANDEM_LOGIN_MAX_ATTEMPTS": "5",
    "TANDEM_LOGIN_IP_MAX_ATTEMPTS": "12",
    "TANDEM_SIGNUP_MAX_PER_IP": "3",
    "TANDEM_JOIN_MAX_PER_IP": "4",
}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[TandemServer]]:
    with postgres_database() as url, redis_prefix() as prefix:
        env = {**node_env(SHARED_REDIS, prefix), **LIMITS}
        servers = [TandemServer(tmp_path / f"node{i}", url, auth=True, env=env) for i in range(2)]
        try:
            yield start_all(servers)
        finally:
            stop_all(servers)


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def _spread(
    nodes: list[TandemServer], calls: list[tuple[str, dict[str, str]]]
) -> tuple[Counter[int], Counter[int]]:
    """POST each (path, json) at once, each from a fresh client of this one IP, alternating
    between the nodes. Returns the statuses, and how many requests each node answered."""
    statuses: Counter[int] = Counter()
    per_node: Counter[int] = Counter()

    async def post(i: int, path: str, body: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=nodes[i].http_url, timeout=120) as client:
            csrf = (await client.get("/api/auth/csrf")).json()["csrf_token"]
            r = await client.post(path, json=body, headers={"x-csrf-token": csrf})
            statuses[r.status_code] += 1
            per_node[i] += 1

    async with anyio.create_task_group() as tg:
        for i, (path, body) in zip(itertools.cycle(range(len(nodes))), calls, strict=False):
            tg.start_soon(post, i, path, body)
    return statuses, per_node


async def test_failed_logins_spread_over_two_nodes_trip_one_limit(nodes: list[TandemServer]) -> None:
    a, b = (Http(n.http_url) for n in nodes)
    victim = _name("victim")
    a.signup(victim, PASSWORD)
    # One at a time, alternating nodes: five wrong passwords are checked, the sixth is refused on
    # either node (per node, each would still have budget left).
    for i in range(5):
        assert (a if i % 2 else b).login(victim, "wrong password!").status_code == 401
    for http in (a, b):
        r = http.login(victim, PASSWORD)
        assert r.status_code == 429 and "failed logins" in r.json()["detail"], r.text
        assert int(r.headers["retry-after"]) > 0


async def test_concurrent_guesses_on_both_nodes_get_exactly_the_limit(nodes: list[TandemServer]) -> None:
    victim = _name("victim")
    Http(nodes[0].http_url).signup(victim, PASSWORD)
    login = ("/api/auth/login", {"username": victim, "password": "wrong password!"})
    got, per_node = await _spread(nodes, [login] * 60)
    assert got == Counter({401: 5, 429: 55}), got
    assert per_node == Counter({0: 30, 1: 30})
    # Spraying other usernames over both nodes: this address's own window (12) runs out.
    sprays = [("/api/auth/login", {"username": _name("spray"), "password": "x" * 12}) for _ in range(20)]
    got, _ = await _spread(nodes, sprays)
    assert got == Counter({401: 12 - 5, 429: 20 - 7}), got


async def test_signups_joins_and_right_passwords_over_two_nodes(nodes: list[TandemServer]) -> None:
    signups = [("/api/auth/signup", {"username": _name("user"), "password": PASSWORD}) for _ in range(8)]
    got, per_node = await _spread(nodes, signups)
    assert got == Counter({201: 3, 429: 5}), got
    assert per_node == Counter({0: 4, 1: 4})
    # Joins: an owner made before the signup throttle filled (from the CLI, which has none).
    owner_name = _name("owner")
    nodes[0].cli("user", "add", owner_name, input=f"{PASSWORD}\n")
    owner = Http(nodes[1].http_url)
    assert owner.login(owner_name, PASSWORD).status_code == 200
    sid = owner.post("/api/sessions", json={"title": "cluster throttle"}).json()["id"]
    token = owner.post(f"/api/sessions/{sid}/links", json={"role": "viewer"}).json()["token"]
    joins = [(f"/api/join/{token}", {"name": f"guest {i}"}) for i in range(8)]
    got, _ = await _spread(nodes, joins)
    assert got == Counter({200: 4, 429: 4}), got
    # Right passwords give their attempts back: more logins than both windows, alternating nodes.
    for i in range(16):
        assert Http(nodes[i % 2].http_url).login(owner_name, PASSWORD).status_code == 200


def test_without_redis_logins_and_signups_are_refused_not_unlimited(tmp_path: Path) -> None:
    """The limits fail closed: while Redis is away, login and signup answer 503 (no password is
    checked); once it is back, they work again (redis-py reconnects by itself)."""
    private = PrivateRedis(tmp_path / "redis").start()
    try:
        with postgres_database() as url:
            env = {**node_env(private.url, "tandem-test:"), **LIMITS}
            with running_server(tmp_path / "node", url, auth=True, env=env) as node:
                name = _name("user")
                Http(node.http_url).signup(name, PASSWORD)
                private.kill()
                r = Http(node.http_url).login(name, PASSWORD)
                assert r.status_code == 503 and "rate limit store" in r.json()["detail"], r.text
                signup = Http(node.http_url).post(
                    "/api/auth/signup", json={"username": _name("late"), "password": PASSWORD}
                )
                assert signup.status_code == 503 and int(signup.headers["retry-after"]) > 0
                private.restart()
                wait_until(
                    lambda: Http(node.http_url).login(name, PASSWORD).status_code == 200,
                    timeout=30,
                    what="logins to work again once Redis is back",
                )
    finally:
        if private.proc is not None and private.proc.poll() is None:
            private.kill()

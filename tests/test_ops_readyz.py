"""`/readyz`: 503 while the database or Redis is unreachable, 200 again once it is back.

Each test stops and starts its OWN throwaway server (never the shared 127.0.0.1 services).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.ops_support import ThrowawayPostgres, ThrowawayRedis
from tests.support import running_server, wait_until


def readyz(base: str) -> httpx.Response:
    return httpx.get(base + "/readyz", timeout=10)


def test_readyz_reports_every_check(server) -> None:  # type: ignore[no-untyped-def]
    r = readyz(server.http_url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    for name in ("database", "redis", "docker", "disk"):
        check = body["checks"][name]
        assert check["status"] in ("ok", "skipped")
        assert isinstance(check["latency_ms"], float | int)
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "skipped"  # TANDEM_REDIS_URL unset
    assert httpx.get(server.http_url + "/healthz").json() == {"status": "ok"}


def test_readyz_follows_redis(tmp_path: Path) -> None:
    redis = ThrowawayRedis(tmp_path / "redis").start()
    try:
        env = {"TANDEM_REDIS_URL": redis.url, "TANDEM_READYZ_TIMEOUT_SECONDS": "1"}
        with running_server(tmp_path / "data", None, "--sandbox", "off", env=env) as server:
            assert readyz(server.http_url).json()["checks"]["redis"]["status"] == "ok"
            redis.stop()
            r = readyz(server.http_url)
            assert r.status_code == 503, r.text
            assert r.json()["checks"]["redis"]["status"] == "fail"
            assert r.json()["checks"]["database"]["status"] == "ok"
            redis.start()
            wait_until(lambda: readyz(server.http_url).status_code == 200, timeout=15, what="ready again")
    finally:
        redis.stop()


def test_readyz_reuses_one_redis_connection(tmp_path: Path) -> None:
    """Probes share one pooled client: Redis sees no new connection per probe."""
    import redis as sync_redis

    server_redis = ThrowawayRedis(tmp_path / "redis").start()
    admin = sync_redis.Redis.from_url(server_redis.url)
    try:
        env = {"TANDEM_REDIS_URL": server_redis.url, "TANDEM_READYZ_TIMEOUT_SECONDS": "2"}
        with running_server(tmp_path / "data", None, "--sandbox", "off", env=env) as server:
            assert readyz(server.http_url).status_code == 200  # the probe's client exists now

            def connections() -> int:
                return int(admin.info("stats")["total_connections_received"])

            before = connections()
            for _ in range(20):
                r = readyz(server.http_url)
                assert r.status_code == 200, r.text
            # One per probe before; now none (slack for the bus re-dialling meanwhile, and ours).
            assert connections() - before <= 3
    finally:
        admin.close()
        server_redis.stop()


@pytest.mark.postgres
@pytest.mark.skipif(not ThrowawayPostgres.available(), reason="PostgreSQL server binaries are not installed")
def test_readyz_follows_postgres(tmp_path: Path) -> None:
    pg = ThrowawayPostgres().init()
    try:
        pg.start()
        env = {"TANDEM_READYZ_TIMEOUT_SECONDS": "2"}
        with running_server(tmp_path / "data", pg.url, "--sandbox", "off", env=env) as server:
            assert readyz(server.http_url).status_code == 200
            pg.stop()
            r = readyz(server.http_url)
            assert r.status_code == 503, r.text
            assert r.json()["checks"]["database"]["status"] == "fail"
            pg.start()
            wait_until(lambda: readyz(server.http_url).status_code == 200, timeout=20, what="ready again")
    finally:
        pg.destroy()

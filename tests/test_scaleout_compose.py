"""`docker-compose.yml` is the production shape: validated by `docker compose config` (or Debian's
`docker-compose config`) and checked structurally (no registry here: nothing is pulled or run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def app_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc for name, svc in compose["services"].items() if "tandem" in " ".join(svc.get("command", []))
    }


def _compose_command() -> list[str]:
    """`docker compose` (the plugin) or Debian's `docker-compose`; scripts/test.sh installs the latter."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` is installed (scripts/test.sh installs it)"
    return [legacy]


def test_docker_compose_config_validates() -> None:
    subprocess.run([*_compose_command(), "-f", str(COMPOSE), "config", "-q"], check=True)


def test_several_app_nodes_on_redis_and_postgres(compose: dict[str, Any]) -> None:
    nodes = app_nodes(compose)
    assert len(nodes) >= 2
    for name, svc in nodes.items():
        env = svc["environment"]
        assert env["TANDEM_REDIS_URL"].startswith("redis://redis:"), name
        assert (
            env["TANDEM_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:" in env["TANDEM_DATABASE_URL"]
        )
        assert "/var/run/docker.sock:/var/run/docker.sock" in svc["volumes"], (
            f"{name}: sandboxes need the engine"
        )
        assert "readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in svc, f"{name}: nodes are reached through the proxy only"
    assert len({svc["environment"].get("TANDEM_NODE_ID") for svc in nodes.values()}) == len(nodes)


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "monitoring" in svc.get("profiles", []):
            continue
        assert "healthcheck" in svc, name


def test_redis_persistence_is_explained_and_set(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert "--appendonly" in command and "--maxmemory-policy" in command
    text = COMPOSE.read_text()
    assert re.search(r"#.*appendfsync everysec", text), "the persistence settings are explained"


def test_proxy_upgrades_websockets_to_every_node(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    mount = next(v for v in proxy["volumes"] if "nginx.conf" in v)
    conf = (ROOT / mount.split(":")[0]).read_text()
    assert "proxy_set_header Upgrade $http_upgrade" in conf
    assert "proxy_set_header Connection $connection_upgrade" in conf
    assert "proxy_http_version 1.1" in conf
    for name in app_nodes(compose):
        assert re.search(rf"server {name}:8000", conf), f"{name} missing from the upstream"
    assert proxy["ports"]


def test_prometheus_scrapes_every_node(compose: dict[str, Any]) -> None:
    targets = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    listed = {t for job in targets["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {f"{name}:8000" for name in app_nodes(compose)} <= listed


def test_nodes_answer_the_proxys_host_and_trust_only_its_forwarded_for(compose: dict[str, Any]) -> None:
    """The nodes refuse unknown Hosts (DNS rebinding): the proxy passes the public name through,
    Prometheus's service names are allowed, and X-Forwarded-For is the proxy's own word."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Host $host" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr" in conf
    assert re.search(r"limit_conn per_ip \d+", conf) and "client_header_timeout" in conf
    for name, svc in app_nodes(compose).items():
        env = svc["environment"]
        assert set(yaml.safe_load(env["TANDEM_ALLOWED_HOSTS"])) >= set(app_nodes(compose)), name
        assert env["TANDEM_PUBLIC_URL"]
        assert yaml.safe_load(env["TANDEM_TRUSTED_PROXIES"]) == ["*"]

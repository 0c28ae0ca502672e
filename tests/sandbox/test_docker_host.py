"""Terminals reach a Docker engine named by DOCKER_HOST (how deploy/kubernetes points them at the
pod's Docker-in-Docker sidecar): aiodocker reads it when no URL is given."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sandbox import DockerSandbox, SandboxSpec, SandboxUnavailableError

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

DEFAULT_SOCKETS = (Path("/var/run/docker.sock"), Path("/run/docker.sock"))


async def test_docker_host_names_the_engine(
    docker_ready: None, test_spec: SandboxSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = next(p for p in DEFAULT_SOCKETS if p.is_socket())
    elsewhere = tmp_path / "engine" / "docker.sock"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(engine)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{elsewhere}")
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    async with DockerSandbox(test_spec, instance=instance, idle_timeout=None) as sb:
        assert (await sb.docker.version())["ApiVersion"]

    # The default socket still answers; a DOCKER_HOST naming nothing is what the sandbox uses.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'missing.sock'}")
    with pytest.raises(SandboxUnavailableError):
        async with DockerSandbox(test_spec, instance=instance, idle_timeout=None):
            pass

"""The allow-listed spec and the container request built from it (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox import SandboxSpec
from sandbox.container_config import container_config, container_name


def test_spec_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SandboxSpec.model_validate({"image": "x", "extra_host_config": {"Privileged": True}})


def test_spec_refuses_root_and_swap_below_memory() -> None:
    with pytest.raises(ValidationError):
        SandboxSpec(uid=0)
    with pytest.raises(ValidationError):
        SandboxSpec(memory_bytes=256 * 2**20, memory_swap_bytes=128 * 2**20)


def test_swap_defaults_to_memory() -> None:
    spec = SandboxSpec(memory_bytes=100 * 2**20)
    assert spec.effective_swap_bytes == 100 * 2**20


def test_container_request_is_hardened() -> None:
    spec = SandboxSpec(image="img:1", pids_limit=99, nano_cpus=500_000_000)
    cfg = container_config(spec, "s1", Path("/srv/ws"), "inst")
    host = cfg["HostConfig"]
    assert cfg["User"] == "1000:1000"
    assert cfg["Labels"] == {"tandem.managed": "1", "tandem.session": "s1", "tandem.instance": "inst"}
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]  # default seccomp stays on
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp", "/home/user"}
    assert host["Memory"] == host["MemorySwap"] == spec.memory_bytes
    assert host["PidsLimit"] == 99 and host["NanoCpus"] == 500_000_000
    assert host["NetworkMode"] == "none" and cfg["NetworkDisabled"] is True
    assert host["Init"] is True
    assert host["Binds"] == ["/srv/ws:/workspace:rw"]
    assert "Privileged" not in host and "CapAdd" not in host


def test_network_only_when_the_spec_allows_it() -> None:
    cfg = container_config(SandboxSpec(network=True), "s", Path("/w"), "i")
    assert cfg["HostConfig"]["NetworkMode"] == "bridge" and cfg["NetworkDisabled"] is False


def test_container_names_are_safe_and_distinct() -> None:
    a = container_name("team/a b", "x")
    assert a.startswith("tandem-team-a-b-")
    assert a != container_name("team/a b", "y") != container_name("team/a-b", "x")
    assert container_name("///", "x").startswith("tandem-session-")

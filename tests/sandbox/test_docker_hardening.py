"""What a session's container may not do, checked by doing it (busybox test image)."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest

from sandbox import DockerSandbox, SandboxSpec

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(120)]

SID = "hardening"


async def run(sandbox: DockerSandbox, script: str, deadline: float = 60.0) -> tuple[int, str]:
    with anyio.fail_after(deadline):
        result = await sandbox.run(SID, ["/bin/sh", "-c", script])
    return result.exit_code, result.output


@pytest.fixture
async def started(sandbox: DockerSandbox, workspace: Path) -> DockerSandbox:
    await sandbox.ensure_container(SID, workspace)
    return sandbox


async def test_runs_as_an_unprivileged_user_without_capabilities(started: DockerSandbox) -> None:
    code, out = await run(
        started, "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
    )
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.strip().splitlines()[2:])
    assert out.splitlines()[:2] == ["1000", "1000"]
    assert int(lines["CapEff"].strip(), 16) == 0 and int(lines["CapBnd"].strip(), 16) == 0
    assert lines["NoNewPrivs"].strip() == "1"
    assert lines["Seccomp"].strip() == "2"  # filter mode: Docker's default profile


async def test_root_filesystem_is_read_only_but_workspace_tmp_and_home_are_writable(
    started: DockerSandbox, workspace: Path
) -> None:
    for path in ("/etc/evil", "/bin/evil", "/usr/evil", "/evil"):
        code, out = await run(started, f"echo x > {path}")
        assert code != 0 and "Read-only file system" in out, (path, out)
    code, out = await run(
        started, "echo w > /workspace/made-inside && echo t > /tmp/t && echo h > /home/user/h && echo ok"
    )
    assert (code, out.strip()) == (0, "ok")
    assert (workspace / "made-inside").read_text() == "w\n"  # the bind mount reaches the host


async def test_no_network_but_loopback(started: DockerSandbox) -> None:
    code, out = await run(started, "cat /proc/net/dev; echo ROUTES; cat /proc/net/route")
    assert code == 0
    devices = {line.split(":")[0].strip() for line in out.split("ROUTES")[0].splitlines() if ":" in line}
    assert devices == {"lo"}
    routes = out.split("ROUTES")[1].strip().splitlines()
    assert len(routes) <= 1  # only the header: no route anywhere


async def test_a_fork_bomb_is_stopped_by_the_pids_limit(
    started: DockerSandbox, test_spec: SandboxSpec
) -> None:
    # The classic bomb; every fork past the limit fails with EAGAIN and the bomb collapses.
    code, out = await run(started, "g(){ f | f & }; f(){ g; }; f; wait", deadline=90)
    assert "can't fork" in out or "Resource temporarily unavailable" in out
    info = await started.inspect(SID)
    assert info["HostConfig"]["PidsLimit"] == test_spec.pids_limit
    assert info["State"]["Running"] is True  # the container lives on ...
    code, out = await run(started, "echo alive")
    assert (code, out) == (0, "alive\n")
    host = await anyio.run_process(["true"], check=False)  # ... and so does the host
    assert host.returncode == 0
    await started.docker.version()


async def test_a_memory_hog_is_oom_killed(started: DockerSandbox) -> None:
    # Command substitution buffers 200 MB in the shell: far past the 64 MiB limit, no swap.
    code, out = await run(started, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived")
    assert code == 128 + 9 and "survived" not in out  # SIGKILL from the OOM killer
    info = await started.inspect(SID)
    assert info["HostConfig"]["Memory"] == info["HostConfig"]["MemorySwap"]
    assert info["State"]["Running"] is True
    assert await run(started, "echo alive") == (0, "alive\n")


async def test_idle_containers_are_stopped(
    docker_ready: None, test_spec: SandboxSpec, workspace: Path
) -> None:
    instance = f"pytest-{uuid.uuid4().hex[:8]}"
    async with DockerSandbox(test_spec, instance=instance, idle_timeout=0.0, idle_check_interval=3600) as sb:
        try:
            await sb.ensure_container("idle", workspace)
            pty = await sb.start_pty("idle", "t", 80, 24)
            assert await sb.stop_idle() == []  # a live PTY keeps it up
            await pty.aclose()
            assert await sb.stop_idle() == ["idle"]
            assert (await sb.inspect("idle"))["State"]["Running"] is False
        finally:
            with anyio.CancelScope(shield=True):
                await sb.reap_orphans(())

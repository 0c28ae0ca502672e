"""Whether this server has terminals, and why not: `TANDEM_SANDBOX` = auto | docker | off.

`auto` uses Docker when an engine answers and the image exists, and otherwise turns terminals
off with a reason and a hint (`GET /api/sandbox`). `docker` makes both a start-up requirement.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Literal

from pydantic import BaseModel

from backend.settings import Settings
from backend.terminals.paths import sandbox_instance
from sandbox import (
    DockerSandbox,
    QuotaError,
    SandboxError,
    SandboxSpec,
    SandboxUnavailableError,
    WorkspaceQuota,
)
from sandbox.images import image_exists

log = logging.getLogger("tandem.sandbox")

MiB = 1024 * 1024
BUILD_HINT = (
    "run `tandem sandbox build-image` (or `tandem sandbox build-image --test` for a tiny busybox image)"
)


class SandboxStatus(BaseModel):
    enabled: bool
    mode: Literal["auto", "docker", "off"]
    image: str
    reason: str | None = None
    hint: str | None = None


def sandbox_spec(settings: Settings) -> SandboxSpec:
    return SandboxSpec(
        image=settings.sandbox_image,
        memory_bytes=settings.sandbox_memory_mb * MiB,
        pids_limit=settings.sandbox_pids_limit,
        nano_cpus=int(settings.sandbox_cpus * 1_000_000_000),
        network=settings.sandbox_network,
        tmp_bytes=settings.sandbox_tmp_mb * MiB,
        home_bytes=settings.sandbox_home_mb * MiB,
    )


async def open_sandbox(
    settings: Settings, stack: AsyncExitStack
) -> tuple[DockerSandbox | None, SandboxStatus]:
    """Enter a `DockerSandbox` on `stack` when terminals are on; say why when they are off."""
    mode, image = settings.sandbox, settings.sandbox_image
    if mode == "off":
        return None, SandboxStatus(
            enabled=False,
            mode=mode,
            image=image,
            reason="terminals are off on this server (TANDEM_SANDBOX=off)",
        )
    spec = sandbox_spec(settings)
    try:
        quota = WorkspaceQuota(settings.workspace_quota, settings.workspace_max_bytes, spec.uid, spec.gid)
    except QuotaError as exc:
        if mode == "docker":
            raise
        log.warning("terminals are off: %s", exc)
        return None, SandboxStatus(enabled=False, mode=mode, image=image, reason=str(exc)[:300])
    sandbox = DockerSandbox(
        spec,
        quota=quota,
        instance=sandbox_instance(settings),
        idle_timeout=settings.sandbox_idle_stop_seconds,
        idle_check_interval=max(1.0, min(60.0, settings.sandbox_idle_stop_seconds / 4)),
        max_ptys_per_session=settings.terminals_per_session,
    )
    try:
        await stack.enter_async_context(sandbox)
    except SandboxUnavailableError as exc:
        if mode == "docker":
            raise
        log.warning("terminals are off: %s", exc)
        return None, SandboxStatus(
            enabled=False,
            mode=mode,
            image=image,
            reason=f"no Docker engine answers: {exc}"[:300],
            hint="install Docker (Debian: apt-get install docker.io) and start dockerd",
        )
    if not await image_exists(sandbox.docker, image):
        reason = f"the sandbox image {image} is missing"
        if mode == "docker":
            raise SandboxError(f"{reason}; {BUILD_HINT}")
        log.warning("terminals are off: %s; %s", reason, BUILD_HINT)
        return None, SandboxStatus(enabled=False, mode=mode, image=image, reason=reason, hint=BUILD_HINT)
    log.info("terminals are on: Docker sandbox with image %s", image)
    return sandbox, SandboxStatus(enabled=True, mode=mode, image=image)

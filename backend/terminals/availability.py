"""Whether this server has terminals, and why not: `TANDEM_SANDBOX` = auto | docker | off.

`auto` uses Docker when an engine answers and the image exists; until then terminals are off
with a reason, a hint and a phase (`GET /api/sandbox`), and the server keeps looking
(`backend.terminals.bringup`): the engine coming up, or the image being built, turns them on
without a restart. `docker` makes the engine and the image start-up requirements.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel

from backend.settings import Settings
from sandbox import SandboxSpec

MiB = 1024 * 1024
BUILD_HINT = (
    "run `tandem sandbox build-image` (or `tandem sandbox build-image --test` for a tiny busybox image)"
)

# off: TANDEM_SANDBOX=off · waiting_for_engine: no engine answers (the reason says how it fails) ·
# installing_engine: serve.sh is installing or starting one · image_missing: and will not be built
# here · building_image · failed: the build failed (the reason says why) · ready: terminals on.
Phase = Literal[
    "off", "waiting_for_engine", "installing_engine", "image_missing", "building_image", "failed", "ready"
]


class SandboxStatus(BaseModel):
    enabled: bool
    mode: Literal["auto", "docker", "off"]
    image: str
    phase: Phase = "ready"
    reason: str | None = None
    hint: str | None = None
    progress: float | None = None  # 0..1 while building the image
    elapsed_seconds: float | None = None  # in this phase
    log: str | None = None  # the latest line of the engine install or image build
    can_retry: bool = False  # the caller may start a build again (POST /api/sandbox/build)


class StatusBoard:
    """The current `SandboxStatus`, with the phase's start time for `elapsed_seconds`."""

    def __init__(self, settings: Settings) -> None:
        self._mode = settings.sandbox
        self._image = settings.sandbox_image
        self._since = time.monotonic()
        self._status = SandboxStatus(
            enabled=False, mode=self._mode, image=self._image, phase="waiting_for_engine"
        )

    def set(
        self,
        phase: Phase,
        reason: str | None = None,
        hint: str | None = None,
        *,
        progress: float | None = None,
        log: str | None = None,
    ) -> None:
        if phase != self._status.phase:
            self._since = time.monotonic()
        self._status = SandboxStatus(
            enabled=phase == "ready",
            mode=self._mode,
            image=self._image,
            phase=phase,
            reason=reason,
            hint=hint,
            progress=progress,
            log=log[-300:] if log else None,
        )

    def progress(self, fraction: float | None, line: str) -> None:
        """A build's progress callback (called from the build's thread: plain assignments only)."""
        update: dict[str, object] = {"log": line[-300:] if line else self._status.log}
        if fraction is not None:
            update["progress"] = round(fraction, 3)
        self._status = self._status.model_copy(update=update)

    @property
    def status(self) -> SandboxStatus:
        elapsed = None if self._status.enabled else round(time.monotonic() - self._since, 1)
        return self._status.model_copy(update={"elapsed_seconds": elapsed})


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

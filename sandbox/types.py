"""The sandbox package's vocabulary: the spec it accepts and the protocols it exposes.

`backend/` depends on these names only; `DockerSandbox` and `LocalPty` are the real
implementations behind them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

MiB = 1024 * 1024

DEFAULT_IMAGE = "tandem-sandbox:latest"
TEST_IMAGE = "tandem-sandbox-test:latest"

# Runs bash when the image has it (the debootstrap image), busybox sh otherwise.
DEFAULT_SHELL: tuple[str, ...] = (
    "/bin/sh",
    "-c",
    "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi",
)


class SandboxSpec(BaseModel):
    """What a session's container may be, as an allow-list.

    There is deliberately no field that passes raw Docker options through: every
    knob is named, typed and bounded here, and `DockerSandbox` translates it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = Field(default=DEFAULT_IMAGE, min_length=1, max_length=255)
    memory_bytes: int = Field(default=512 * MiB, ge=16 * MiB, le=64 * 1024 * MiB)
    # Equal to memory_bytes by default: no swap, so a hog is OOM-killed, not slowed.
    memory_swap_bytes: int | None = Field(default=None, ge=16 * MiB, le=128 * 1024 * MiB)
    pids_limit: int = Field(default=256, ge=16, le=32768)
    nano_cpus: int = Field(default=1_000_000_000, ge=10_000_000, le=64_000_000_000)
    network: bool = False
    uid: int = Field(default=1000, ge=1, le=2**31 - 1)  # never root
    gid: int = Field(default=1000, ge=1, le=2**31 - 1)
    tmp_bytes: int = Field(default=256 * MiB, ge=MiB, le=16 * 1024 * MiB)
    home_bytes: int = Field(default=128 * MiB, ge=MiB, le=16 * 1024 * MiB)
    shell: tuple[str, ...] = Field(default=DEFAULT_SHELL, min_length=1, max_length=16)
    # Host side: give the workspace to uid:gid so the sandbox user can write it.
    chown_workspace: bool = True

    @model_validator(mode="after")
    def _swap_not_below_memory(self) -> SandboxSpec:
        if self.memory_swap_bytes is not None and self.memory_swap_bytes < self.memory_bytes:
            raise ValueError("memory_swap_bytes must be >= memory_bytes")
        return self

    @property
    def effective_swap_bytes(self) -> int:
        return self.memory_bytes if self.memory_swap_bytes is None else self.memory_swap_bytes


@dataclass(frozen=True, slots=True)
class ContainerHandle:
    """A session's container as the backend sees it."""

    session_id: str
    container_id: str
    name: str
    workspace: Path


@runtime_checkable
class Pty(Protocol):
    """One pseudo-terminal with a process behind it (a `docker exec` or a local shell)."""

    async def read(self) -> bytes:
        """Return the next chunk of output; `b""` once the process side is closed."""
        ...

    async def write(self, data: bytes) -> None:
        """Send input bytes; raises `PtyClosedError` after exit."""
        ...

    async def resize(self, cols: int, rows: int) -> None: ...

    async def wait(self) -> int:
        """Wait for the process to exit and return its exit status (128+N for signal N)."""
        ...

    async def aclose(self) -> None:
        """Hang up the process (SIGHUP) and release the PTY; idempotent."""
        ...


class SandboxBackend(Protocol):
    """Runs a session's container and its PTYs (the `Sandbox backend` seam).

    The backend's terminals use nothing else of the sandbox: its shells come from `start_pty`,
    its housekeeping from the rest."""

    async def ensure_container(self, session_id: str, workspace: Path) -> ContainerHandle:
        """Create (or find) the session's container and make sure it runs."""
        ...

    async def start_pty(self, session_id: str, terminal: str, cols: int, rows: int) -> Pty:
        """Start a shell on a new PTY in the session's container (restarting it if stopped)."""
        ...

    async def stop(self, session_id: str) -> None:
        """Stop the container, keeping it for a later restart."""
        ...

    async def stop_all(self) -> None:
        """Stop every container this backend ran (shutdown): nothing keeps running unwatched."""
        ...

    async def remove(self, session_id: str) -> None:
        """Stop and delete the container (one an earlier run left too); the workspace stays."""
        ...

    async def discard_workspace(self, workspace: Path) -> None:
        """A deleted session's workspace: release what backs it (its quota image), after `remove`."""
        ...

    async def managed_sessions(self) -> set[str]:
        """The sessions that have a container of this install (running or stopped)."""
        ...

    async def reap_orphans(self, known_session_ids: Collection[str]) -> list[str]:
        """Remove managed containers of sessions not in `known_session_ids`; return their ids."""
        ...

    async def ping(self) -> None:
        """Raise unless the engine answers (readiness)."""
        ...

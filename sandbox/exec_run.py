"""Run a command in a container to completion, with bounded output and a deadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiodocker
import aiohttp
import anyio
from aiodocker.containers import DockerContainer

from .errors import ContainerError

MAX_OUTPUT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: bool

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).decode(errors="replace")


async def exec_run(
    container: DockerContainer,
    argv: Sequence[str],
    *,
    user: str,
    env: Mapping[str, str],
    workdir: str = "/workspace",
    max_output_bytes: int = MAX_OUTPUT_BYTES,
) -> ExecResult:
    """Exec `argv` without a TTY and collect its output; the caller bounds the wait."""
    out, err = bytearray(), bytearray()
    truncated = False
    try:
        exec_ = await container.exec(
            list(argv), stdout=True, stderr=True, user=user, environment=dict(env), workdir=workdir
        )
        async with exec_.start(detach=False) as stream:
            while (msg := await stream.read_out()) is not None:
                buf = out if msg.stream == 1 else err
                room = max_output_bytes - len(out) - len(err)
                truncated = truncated or len(msg.data) > room
                buf += msg.data[: max(room, 0)]
        while True:
            info = await exec_.inspect()
            if not info["Running"] and info["ExitCode"] is not None:
                break
            await anyio.sleep(0.02)  # the exit code lands just after the stream closes
    except (aiodocker.DockerError, aiohttp.ClientError) as exc:
        raise ContainerError(f"exec {argv[0]!r} in {container.id[:12]} failed: {exc}") from exc
    return ExecResult(int(info["ExitCode"]), bytes(out), bytes(err), truncated)

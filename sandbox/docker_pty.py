"""`DockerPty`: the `Pty` protocol over a `docker exec` with a TTY.

Docker has no API to signal an exec'd process, so the shell is started through a tiny
wrapper that records its pid in /tmp; closing the PTY sends SIGHUP to that pid with a
second, short exec — what a terminal emulator does when its window closes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence

import aiodocker
import aiohttp
import anyio
from aiodocker.containers import DockerContainer
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from .errors import PtyClosedError, PtyError

logger = logging.getLogger(__name__)

# `$0` is the pid file, "$@" the shell: the pid written is the shell's own after exec.
_PID_WRAPPER = 'echo $$ > "$0"; exec "$@"'
_HANGUP = 'p=$(cat "$0" 2>/dev/null) && kill -HUP "$p"; rm -f "$0"'
EXIT_POLL_INTERVAL = 0.05


class DockerPty:
    """A shell in a container on a Docker-allocated TTY. Create with `DockerPty.start`."""

    def __init__(
        self,
        container: DockerContainer,
        exec_: Exec,
        stream: Stream,
        *,
        user: str,
        pid_file: str,
        on_close: Callable[[DockerPty], None] | None = None,
    ) -> None:
        self._container = container
        self._exec = exec_
        self._stream = stream
        self._user = user
        self._pid_file = pid_file
        self._on_close = on_close
        self._closed = False
        self._eof = False
        self._status: int | None = None

    @classmethod
    async def start(
        cls,
        container: DockerContainer,
        argv: Sequence[str],
        *,
        user: str,
        cols: int,
        rows: int,
        env: Mapping[str, str],
        workdir: str = "/workspace",
        on_close: Callable[[DockerPty], None] | None = None,
    ) -> DockerPty:
        pid_file = f"/tmp/.tandem-pty-{secrets.token_hex(6)}.pid"
        try:
            exec_ = await container.exec(
                ["/bin/sh", "-c", _PID_WRAPPER, pid_file, *argv],
                stdin=True,
                stdout=True,
                stderr=True,
                tty=True,
                user=user,
                environment=dict(env),
                workdir=workdir,
            )
            stream = exec_.start(detach=False)
            await stream.__aenter__()  # upgrade the connection now, so failures raise here
        except (aiodocker.DockerError, aiohttp.ClientError) as exc:
            raise PtyError(f"cannot start a shell in {container.id[:12]}: {exc}") from exc
        pty = cls(container, exec_, stream, user=user, pid_file=pid_file, on_close=on_close)
        # API 1.41 has no initial console size for exec; resizing right after start is the norm.
        try:
            await pty.resize(cols, rows)
        except BaseException:
            await pty.aclose()
            raise
        return pty

    @property
    def exec_id(self) -> str:
        return self._exec.id

    async def read(self) -> bytes:
        if self._eof:
            return b""
        try:
            msg = await self._stream.read_out()
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            if self._closed:
                msg = None
            else:
                raise PtyError(f"exec stream failed: {exc}") from exc
        if msg is None:
            self._eof = True
            return b""
        return msg.data

    async def write(self, data: bytes) -> None:
        if self._closed or self._eof:
            raise PtyClosedError("pty is closed")
        try:
            await self._stream.write_in(data)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise PtyClosedError(f"exec stream closed: {exc}") from exc

    async def resize(self, cols: int, rows: int) -> None:
        if self._closed:
            raise PtyClosedError("pty is closed")
        try:
            await self._exec.resize(h=rows, w=cols)
        except aiodocker.DockerError as exc:
            raise PtyError(f"resize to {cols}x{rows} failed: {exc}") from exc

    async def wait(self) -> int:
        """Poll the exec until it has stopped; the caller bounds the wait."""
        while self._status is None:
            try:
                info = await self._exec.inspect()
            except aiodocker.DockerError as exc:
                raise PtyError(f"cannot inspect exec {self.exec_id[:12]}: {exc}") from exc
            if not info.get("Running", False) and info.get("ExitCode") is not None:
                self._status = int(info["ExitCode"])
                break
            await anyio.sleep(EXIT_POLL_INTERVAL)
        return self._status

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with anyio.CancelScope(shield=True):
                await self._hang_up()
                await self._stream.close()
        finally:
            if self._on_close is not None:
                self._on_close(self)

    async def _hang_up(self) -> None:
        try:
            info = await self._exec.inspect()
            if not info.get("Running", False):
                return
            hup = await self._container.exec(["/bin/sh", "-c", _HANGUP, self._pid_file], user=self._user)
            await hup.start(detach=True)
        except aiodocker.DockerError as exc:
            # The container may already be stopping; the stream close below still detaches.
            logger.info("hang-up of exec %s skipped: %s", self.exec_id[:12], exc)

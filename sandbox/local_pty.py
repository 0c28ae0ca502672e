"""`LocalPty`: the `Pty` protocol over a real local pseudo-terminal.

Used by unit tests of the terminal hub and as the benchmark floor (no Docker in the
path). It is not a sandbox: the shell runs with the caller's privileges.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence

import anyio

from .errors import PtyClosedError, PtyError

READ_CHUNK = 65536


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _exit_status(returncode: int) -> int:
    # Popen reports death by signal N as -N; shells and Docker say 128+N.
    return 128 - returncode if returncode < 0 else returncode


class LocalPty:
    """A child process on its own PTY, read and written without blocking the event loop."""

    def __init__(self, proc: subprocess.Popen[bytes], master_fd: int) -> None:
        self._proc = proc
        self._fd = master_fd
        self._closed = False
        self._status: int | None = None

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str] = ("/bin/sh",),
        *,
        cols: int = 80,
        rows: int = 24,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> LocalPty:
        master, slave = pty.openpty()
        try:
            _set_winsize(master, cols, rows)
            child_env = dict(os.environ if env is None else env)
            child_env.setdefault("TERM", "xterm-256color")

            # Popen forks and execs synchronously: do it off the event loop.
            def popen() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    list(argv),
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    cwd=cwd,
                    env=child_env,
                    start_new_session=True,
                    # Make the slave the controlling terminal so ^C and job control work.
                    preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
                    close_fds=True,
                )

            proc = await anyio.to_thread.run_sync(popen)
        except OSError as exc:
            os.close(master)
            raise PtyError(f"cannot spawn {argv[0]!r}: {exc}") from exc
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(proc, master)

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def read(self) -> bytes:
        while not self._closed:
            try:
                return os.read(self._fd, READ_CHUNK)
            except BlockingIOError:
                pass
            except OSError as exc:
                # Linux reports a hung-up PTY (all slave ends closed) as EIO: that is EOF.
                if exc.errno == errno.EIO:
                    return b""
                raise PtyError(f"pty read failed: {exc}") from exc
            try:
                await anyio.wait_readable(self._fd)
            except anyio.ClosedResourceError:
                return b""
        return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed:
                raise PtyClosedError("pty is closed")
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                raise PtyClosedError(f"pty write failed: {exc}") from exc
            view = view[written:]
            if view:
                await anyio.wait_writable(self._fd)

    async def resize(self, cols: int, rows: int) -> None:
        if self._closed:
            raise PtyClosedError("pty is closed")
        _set_winsize(self._fd, cols, rows)

    async def wait(self) -> int:
        if self._status is None:
            # Popen.wait blocks; a worker thread keeps the loop free.
            code = await anyio.to_thread.run_sync(self._proc.wait, abandon_on_cancel=True)
            self._status = _exit_status(code)
        return self._status

    async def aclose(self) -> None:
        if self._closed:
            return
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass  # exited between poll() and killpg()
        self._closed = True
        anyio.notify_closing(self._fd)
        os.close(self._fd)

"""A scriptable in-memory `Pty` for deterministic hub tests (LocalPty covers the real thing)."""

from __future__ import annotations

import anyio

from sandbox.errors import PtyClosedError


class FakePty:
    def __init__(self, cols: int, rows: int) -> None:
        self._send, self._recv = anyio.create_memory_object_stream[bytes](10_000)
        self.sizes: list[tuple[int, int]] = [(cols, rows)]
        self.written: list[bytes] = []
        self.status: int | None = None
        self.closed = False
        self._exited = anyio.Event()

    def emit(self, data: bytes) -> None:
        self._send.send_nowait(data)

    def finish(self, status: int) -> None:
        if self.status is None:
            self.status = status
            self._send.close()
            self._exited.set()

    async def read(self) -> bytes:
        try:
            return await self._recv.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def write(self, data: bytes) -> None:
        if self.status is not None:
            raise PtyClosedError("fake pty exited")
        self.written.append(data)

    async def resize(self, cols: int, rows: int) -> None:
        self.sizes.append((cols, rows))

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.status is not None
        return self.status

    async def aclose(self) -> None:
        self.closed = True
        self.finish(129)  # hung up
        self._recv.close()


class FakePtyFactory:
    """Records every PTY the hub starts, so tests can drive the current one."""

    def __init__(self) -> None:
        self.ptys: list[FakePty] = []

    async def __call__(self, cols: int, rows: int) -> FakePty:
        pty = FakePty(cols, rows)
        self.ptys.append(pty)
        return pty

    @property
    def current(self) -> FakePty:
        return self.ptys[-1]

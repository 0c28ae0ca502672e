"""`LeanSocket`: a `/yjs` connection after its handshake, as callbacks on the transport.

Through ASGI every open WebSocket holds an asyncio task (the endpoint's coroutine and the
middleware frames under it), uvicorn's protocol object with its receive queue and events, the
websockets handshake objects (kept alive by its parser) and Starlette's `WebSocket`: about
29 KB of Python objects per idle client (README: Benchmarks). Once a `/yjs` client is accepted
the server only needs to read frames, write frames and notice a close, so
`backend._compat.uvicorn_lean.detach` hands the socket to this protocol
(`transport.set_protocol`) and the endpoint's task ends. What an idle client then costs is this
object (slots), the room's `ClientConnection` and its presence.

Frames are parsed here (RFC 6455, client to server: masked, RSV bits clear, control frames
short and unfragmented, messages at most `max_size`); `websockets` serializes what goes out and
unmasks what comes in. Keepalive is one timer per server (`Keepalive`), not one per socket.
The send side speaks the two ASGI messages the room uses (`websocket.send`, `websocket.close`),
so `ClientConnection` drives either path unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from typing import Any, Protocol

from websockets.frames import Close, Frame, Opcode, apply_mask

from backend import closecodes

log = logging.getLogger("tandem.leanws")

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
PING = Frame(Opcode.PING, b"").serialize(mask=False)
CLOSE_TIMEOUT = 10.0  # after our close frame, how long the peer has to answer
PROTOCOL_ERROR = 1002


class Handler(Protocol):
    """What a detached socket delivers to (the `/yjs` endpoint's session): one object, not two
    callbacks, so an idle socket holds no bound methods or closures of its own."""

    def on_lean_message(self, opcode: int, payload: bytes) -> None:
        """A whole message: OP_BINARY or OP_TEXT."""

    def on_lean_close(self, code: int) -> None:
        """The socket closed: the peer's code (1006: lost without a close frame)."""


EMPTY_CLOSE = bytes([0x88, 0x00])  # FIN + close, no payload


def close_frame(code: int, reason: str = "") -> bytes:
    return Frame(Opcode.CLOSE, Close(code, reason).serialize()).serialize(mask=False)


class ClientGone(Exception):
    """A send to a socket that is closed (the reader side sees the close)."""


class LeanSocket(asyncio.Protocol):
    __slots__ = (
        "_buf",
        "_connections",
        "_frag_op",
        "_frags",
        "_handler",
        "_keepalive",
        "_on_lost",
        "_writable",
        "close_sent",
        "closed",
        "max_size",
        "peer_code",
        "ping_out",
        "seen",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        max_size: int,
        keepalive: Keepalive | None,
        on_lost: Callable[[LeanSocket], None],
        connections: set[Any] | None = None,
    ) -> None:
        self.transport = transport
        # The server's set of open connections (uvicorn's shutdown reaches every socket in it).
        self._connections = connections
        self.max_size = max_size
        self._keepalive = keepalive
        self._on_lost = on_lost  # the server's bookkeeping (the guard slot); shared, not per socket
        self._handler: Handler | None = None
        self._buf: bytearray | None = None
        self._frags: list[bytes] | None = None
        self._frag_op = 0
        self._writable: asyncio.Event | None = None  # only while the transport is paused
        self.close_sent = False
        self.closed = False
        self.peer_code = 1006
        self.seen = True  # data arrived since the last keepalive sweep
        self.ping_out = False
        if keepalive is not None:
            keepalive.add(self)
        # Nothing is read until the endpoint attaches (the room may still be loading).
        transport.pause_reading()

    # -- the endpoint's side ----------------------------------------------------------------

    def attach(self, handler: Handler) -> None:
        """Start delivering messages (and the close) to the endpoint's handler."""
        self._handler = handler
        if self.closed:
            self._handler = None
            handler.on_lean_close(self.peer_code)
        elif not self.close_sent:
            self.transport.resume_reading()

    @property
    def writable(self) -> bool:
        return not self.close_sent and not self.closed and self._writable is None

    def try_write(self, frame: bytes) -> bool:
        """The raw-frame fast path (`rooms.rawframe`): write now, or False to queue."""
        if not self.writable:
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """ASGI's `websocket.send` and `websocket.close`, straight to the transport."""
        while self._writable is not None and not self.closed:
            await self._writable.wait()
        if self.closed:
            raise ClientGone()
        if message["type"] == "websocket.send":
            if self.close_sent:
                raise ClientGone()
            data = message.get("bytes")
            if data is None:
                frame = Frame(Opcode.TEXT, message["text"].encode()).serialize(mask=False)
            else:
                frame = Frame(Opcode.BINARY, data).serialize(mask=False)
            self.transport.write(frame)
        elif message["type"] == "websocket.close":
            self.close(message.get("code", 1000), message.get("reason") or "")
        else:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r} on a detached socket")

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame once; the peer's answer (or the timeout) closes the transport."""
        if self.close_sent or self.closed:
            return
        self.close_sent = True
        self.transport.write(close_frame(code, reason[:120]))
        self.transport.resume_reading()  # to read the peer's answer
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._close_timed_out)

    def shutdown(self) -> None:
        """uvicorn's server shutdown: tell the client to reconnect (elsewhere), then close."""
        if not self.close_sent and not self.closed:
            self.close_sent = True
            self.transport.write(close_frame(closecodes.SERVICE_RESTART))
        self.transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.seen = True
        self.ping_out = False
        if self._buf:
            self._buf += data
            view: bytes | bytearray = self._buf
        else:
            view = data
        pos = self._parse(view)
        if self.closed or pos < 0:
            self._buf = None
            return
        rest = len(view) - pos
        if rest == 0:
            self._buf = None
        elif view is self._buf:
            del self._buf[:pos]
        else:
            self._buf = bytearray(view[pos:])

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.Event()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None:
            writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._buf = self._frags = None
        if self._keepalive is not None:
            self._keepalive.discard(self)
        self.resume_writing()  # a send waiting for the socket learns that it is gone
        if self._connections is not None:
            self._connections.discard(self)
        self._on_lost(self)
        if self._handler is not None:
            handler, self._handler = self._handler, None
            handler.on_lean_close(self.peer_code)

    # -- frames ------------------------------------------------------------------------------

    def _parse(self, buf: bytes | bytearray) -> int:
        """Handle every whole frame in `buf`; the offset of the first byte not used (-1: failed)."""
        pos, end = 0, len(buf)
        while end - pos >= 2 and not self.closed:
            b0, b1 = buf[pos], buf[pos + 1]
            opcode, length, head = b0 & 0x0F, b1 & 0x7F, pos + 2
            if b0 & 0x70 or not b1 & 0x80:
                return self._fail(PROTOCOL_ERROR, "reserved bits set or unmasked frame")
            if length == 126:
                if end - head < 2:
                    break
                length, head = int.from_bytes(buf[head : head + 2], "big"), head + 2
            elif length == 127:
                if end - head < 8:
                    break
                length, head = int.from_bytes(buf[head : head + 8], "big"), head + 8
            if opcode >= OP_CLOSE and (length > 125 or not b0 & 0x80):
                return self._fail(PROTOCOL_ERROR, "bad control frame")
            buffered = sum(map(len, self._frags)) if self._frags else 0
            if length + buffered > self.max_size:
                return self._fail(closecodes.MESSAGE_TOO_BIG, f"frame over {self.max_size} bytes")
            if end - head < 4 + length:
                break
            mask = bytes(buf[head : head + 4])
            payload = apply_mask(bytes(buf[head + 4 : head + 4 + length]), mask) if length else b""
            pos = head + 4 + length
            if not self._frame(bool(b0 & 0x80), opcode, payload):
                return -1
        return pos

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> bool:
        if opcode in (OP_TEXT, OP_BINARY):
            if self._frags is not None:
                return self._fail(PROTOCOL_ERROR, "new message inside a fragmented one") >= 0
            if not fin:
                self._frags, self._frag_op = [payload], opcode
                return True
            self._deliver(opcode, payload)
        elif opcode == OP_CONT:
            if self._frags is None:
                return self._fail(PROTOCOL_ERROR, "continuation without a message") >= 0
            self._frags.append(payload)
            if fin:
                frags, self._frags = self._frags, None
                self._deliver(self._frag_op, b"".join(frags))
        elif opcode == OP_PING:
            if not self.close_sent:
                self.transport.write(Frame(Opcode.PONG, payload).serialize(mask=False))
        elif opcode == OP_PONG:
            pass  # `seen` is already set
        elif opcode == OP_CLOSE:
            self._peer_closed(payload)
            return False
        else:
            return self._fail(PROTOCOL_ERROR, f"unknown opcode {opcode}") >= 0
        return True

    def _deliver(self, opcode: int, payload: bytes) -> None:
        if self.close_sent or self._handler is None:
            return  # past our close: reads stay on only to see the peer's answer
        self._handler.on_lean_message(opcode, payload)

    def _peer_closed(self, payload: bytes) -> None:
        code = 1005
        if len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
        elif payload:
            code = PROTOCOL_ERROR
        self.peer_code = code
        if not self.close_sent:
            self.close_sent = True
            # A close without a code is answered without one (as websockets does): the client
            # then sees 1005, its own close, not a 1000 from the server.
            self.transport.write(EMPTY_CLOSE if code == 1005 else close_frame(code))
        self.transport.close()

    def _fail(self, code: int, why: str) -> int:
        log.debug("closing a /yjs socket (%d): %s", code, why)
        self.peer_code = code
        if not self.close_sent:
            self.close_sent = True
            self.transport.write(close_frame(code, why[:120]))
        self.transport.close()
        return -1

    def _close_timed_out(self) -> None:
        if not self.closed:
            self.transport.abort()


class Keepalive:
    """One timer for every lean socket of a server: a socket silent for a whole interval gets a
    ping; one still silent an interval later is dead (a half-open TCP connection) and aborted."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._sockets: set[LeanSocket] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, sock: LeanSocket) -> None:
        self._sockets.add(sock)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._sweep)

    def discard(self, sock: LeanSocket) -> None:
        self._sockets.discard(sock)

    def _sweep(self) -> None:
        self._timer = None
        for sock in list(self._sockets):
            if sock.seen:
                sock.seen = False
            elif sock.ping_out:
                log.debug("a /yjs socket did not answer a ping: aborted")
                sock.transport.abort()
            elif not sock.close_sent:
                sock.ping_out = True
                sock.transport.write(PING)
        if self._sockets:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._sweep)

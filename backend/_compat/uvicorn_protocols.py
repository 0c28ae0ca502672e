"""uvicorn's HTTP and WebSocket protocols with the connection guard and a header timeout.

uvicorn times out idle keep-alive connections but not a request whose headers never finish:
a socket that sends `GET / HTTP/1.1\\r\\nX-a: b` and stops is held forever. Here every request's
line and headers must arrive within `http_header_timeout_seconds` and within
`http_max_header_bytes`, and each connection holds a slot of the `ConnectionGuard` (idle while
waiting for headers, busy from headers to response, busy for good once upgraded to a WebSocket)
that is released when the socket closes, whichever protocol owns it by then.

uvicorn has no public hook for any of it, so this subclasses its protocols and relies on their
internals (moved here from backend/edge by #16): `HttpToolsProtocol`'s `connection_made`,
`data_received`, `connection_lost`, the parser callbacks `on_message_begin`,
`on_headers_complete`, `on_response_complete`, `handle_websocket_upgrade`, and its `client`,
`transport`, `loop` and `pipeline` attributes; the WebSocket protocol's `handshake_initiated`
and `handshake_complete`. The guard is what bounds connections per IP and per node, so outside
the tested range `guarded_protocols` refuses to start (a silent fallback would drop the limits).
Test: tests/test_compat_uvicorn_protocols.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend._compat import supported
from backend.edge.connections import ConnectionGuard, Slot
from backend.edge.leanws import Keepalive

log = logging.getLogger("tandem.http")

TESTED = {"uvicorn": ("0.54", "0.55")}
SUPPORTED = supported(TESTED)

# What the subclasses override or read, checked by `check_supported` (and by the test).
HTTP_HOOKS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_response_complete",
    "handle_websocket_upgrade",
)


class UnsupportedUvicorn(RuntimeError):
    """The installed uvicorn is not one the guarded protocols were tested on."""


def check_supported(ws_class: type[asyncio.Protocol]) -> None:
    """Raise unless the installed uvicorn is in the tested range and has every hook used here."""
    if not SUPPORTED:
        raise UnsupportedUvicorn(
            f"uvicorn outside the tested range {TESTED}: the connection guard and header timeout "
            "subclass its protocols (backend/_compat/uvicorn_protocols.py); pin a tested version"
        )
    missing = [name for name in HTTP_HOOKS if not callable(getattr(HttpToolsProtocol, name, None))]
    missing += [n for n in ("connection_lost", "data_received") if not callable(getattr(ws_class, n, None))]
    if missing:
        raise UnsupportedUvicorn(
            f"uvicorn's protocols lack {missing}: the guarded protocols cannot hook them"
        )


def _response(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()


REFUSED = _response("503 Service Unavailable")
HEADER_TIMEOUT = _response("408 Request Timeout")
HEADERS_TOO_BIG = _response("431 Request Header Fields Too Large")


class GuardedHttpProtocol(HttpToolsProtocol):
    """Subclassed per server by `guarded_protocols` (uvicorn instantiates the class itself)."""

    guard: ConnectionGuard
    slots: dict[asyncio.BaseTransport, Slot]  # shared with the WebSocket protocol after an upgrade
    header_timeout: float
    max_header_bytes: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot: Slot | None = None
        self.header_timer: asyncio.TimerHandle | None = None
        self.header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ip = self.client[0] if self.client else "local"
        self.slot = self.guard.admit(ip, transport.abort)
        if self.slot is None:
            if self.guard.refused % 1000 == 1:  # under attack: one line per thousand, not a flood
                log.warning(
                    "refused a connection from %s (%d open from it, %d refused so far)",
                    ip,
                    self.guard.count(ip),
                    self.guard.refused,
                )
            transport.write(REFUSED)
            transport.close()
            return
        self.slots[transport] = self.slot
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)
        self._release()

    def data_received(self, data: bytes) -> None:
        if self.slot is None or self.slot.released:
            return  # refused or evicted: the transport is closing
        waiting = self.header_timer is not None
        super().data_received(data)
        if waiting and self.header_timer is not None:  # still inside a request's headers
            self.header_bytes += len(data)
            if self.header_bytes > self.max_header_bytes:
                self._give_up(HEADERS_TOO_BIG, f"headers over {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        if self.slot is not None:
            self.guard.busy(self.slot)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.slot is not None and not self.transport.is_closing() and not self.pipeline:
            self.guard.idle(self.slot)  # keep-alive: waiting for the next request

    def handle_websocket_upgrade(self) -> None:
        self._stop_header_timer()
        super().handle_websocket_upgrade()  # the WebSocket protocol releases the slot at its close

    def _start_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        self._give_up(HEADER_TIMEOUT, f"headers not complete after {self.header_timeout:.1f}s")

    def _give_up(self, response: bytes, why: str) -> None:
        self._stop_header_timer()
        log.debug("closed a connection from %s: %s", self.client, why)
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
        self._release()

    def _release(self) -> None:
        if self.slot is not None and self.slots.get(self.transport) is self.slot:
            del self.slots[self.transport]
            self.guard.release(self.slot)


def guarded_protocols(
    guard: ConnectionGuard,
    ws_class: type[asyncio.Protocol],
    header_timeout: float,
    max_header_bytes: int,
    keepalive: Keepalive | None = None,
) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """The HTTP and WebSocket protocol classes for one server, bound to its guard (and, for
    `/yjs` sockets handed to `LeanSocket`s, to its keepalive timer)."""
    check_supported(ws_class)
    slots: dict[asyncio.BaseTransport, Slot] = {}
    http = type(
        "TandemHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "guard": guard,
            "slots": slots,
            "header_timeout": header_timeout,
            "max_header_bytes": max_header_bytes,
        },
    )

    def release(transport: asyncio.BaseTransport) -> None:
        slot = slots.pop(transport, None)
        if slot is not None:
            guard.release(slot)

    def connection_lost(self: Any, exc: Exception | None) -> None:
        ws_class.connection_lost(self, exc)
        release(self.transport)

    def data_received(self: Any, data: bytes) -> None:
        # Bytes after the request and before our answer (a client may not send them): this
        # socket stays on the ASGI path (backend._compat.uvicorn_lean.detach).
        if self.handshake_initiated and not self.handshake_complete:
            self.early_data = True
        ws_class.data_received(self, data)
        if self.handshake_initiated and not self.handshake_complete and not data.endswith(b"\r\n\r\n"):
            self.early_data = True

    def lean_lost(lean: Any) -> None:
        """A detached socket closed (backend.edge.leanws): its guard slot comes back. Not a method:
        the socket must not keep uvicorn's protocol object alive."""
        release(lean.transport)

    ws = type(
        "TandemWebSocketProtocol",
        (ws_class,),
        {
            "connection_lost": connection_lost,
            "data_received": data_received,
            "lean_lost": staticmethod(lean_lost),
            "early_data": False,
            "lean_keepalive": keepalive,
        },
    )
    return http, ws

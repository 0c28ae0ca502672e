"""Request bodies are capped while they are read, before anything parses them (413).

An unauthenticated 400 MB POST used to be read whole into memory before the CSRF check
refused it. Here a declared `Content-Length` over the cap is refused before a byte of the body
is read, and a chunked body is counted as it arrives: the chunk that crosses the cap is never
handed to the app, which sees a disconnect instead, while the client gets 413 and the connection
is closed. A body that trickles in slower than `http_body_timeout_seconds` gets 408.
The default cap is small (forms and JSON); a route that needs more gets a prefix in
`http_body_limits`.
"""

from __future__ import annotations

import logging

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tandem.http")


async def send_plain(send: Send, status: int, text: str) -> None:
    """A short text response that also closes the connection (the rest of the body is unread)."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, default_limit: int, limits: dict[str, int], timeout_seconds: float
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        # Longest prefix first, so `/api/x/upload` beats `/api/x`.
        self.limits = sorted(limits.items(), key=lambda item: len(item[0]), reverse=True)
        self.timeout = timeout_seconds

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared == -1:
            await send_plain(send, 400, "invalid Content-Length")
            return
        if declared is not None and declared > limit:
            log.warning(
                "%s %s: refused a %d-byte body (limit %d)", scope["method"], scope["path"], declared, limit
            )
            await send_plain(send, 413, f"request body over {limit} bytes")
            return
        await _Limited(self.app, scope, receive, send, limit, self.timeout).run()


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when malformed or repeated differently."""
    values = {v for k, v in scope.get("headers", []) if k == b"content-length"}
    if not values:
        return None
    if len(values) > 1:
        return -1
    value = values.pop().strip()
    return int(value) if value.isdigit() else -1


class _Limited:
    """One request: counts the body as the app receives it, answers 413 or 408 itself."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, timeout: float):
        self.app, self.scope, self._receive, self._send = app, scope, receive, send
        self.limit = limit
        self.received = 0
        self.more_body = True
        self.deadline = anyio.current_time() + timeout
        self.started = False  # the app's response began
        self.answered = False  # we answered (413/408): the app's own response is dropped

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        if not self.more_body:
            return await self._receive()  # body done: only a disconnect can come
        with anyio.move_on_after(max(0.0, self.deadline - anyio.current_time())) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            return await self._refuse(408, "request body too slow")
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.more_body = bool(message.get("more_body", False))
            if self.received > self.limit:
                return await self._refuse(413, f"request body over {self.limit} bytes")
        return message

    async def _refuse(self, status: int, text: str) -> Message:
        log.warning(
            "%s %s: %d after %d body bytes (limit %d)",
            self.scope["method"],
            self.scope["path"],
            status,
            self.received,
            self.limit,
        )
        if not self.started:
            self.answered = True
            await send_plain(self._send, status, text)
        return {"type": "http.disconnect"}  # the app stops reading; nothing over the cap reaches it

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

"""Clients for the access tests: an HTTP session per identity, and a y-websocket client that can
carry a cookie, a `?token=` or an Origin, and reports the close code it got."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
from pycrdt import (
    Doc,
    Map,
    Text,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from backend.rooms.awareness import encode_awareness
from backend.rooms.protocol import StrictDecoder, parse_awareness_update


class Http:
    """httpx with the CSRF dance done: every unsafe call carries `X-CSRF-Token`."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf = self.client.get("/api/auth/csrf").json()["csrf_token"]

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-csrf-token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar)

    def signup(self, username: str, password: str) -> dict[str, Any]:
        r = self.post("/api/auth/signup", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def login(self, username: str, password: str) -> httpx.Response:
        return self.post("/api/auth/login", json={"username": username, "password": password})

    def join(self, token: str, name: str) -> dict[str, Any]:
        r = self.post(f"/api/join/{token}", json={"name": name})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


class YClient:
    """A y-websocket client on one connection: syncs a pycrdt Doc, tracks awareness and the close."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.doc: Doc = Doc()
        self.awareness: dict[int, dict[str, Any]] = {}
        self.synced = anyio.Event()
        self.closed = anyio.Event()
        self.close_code: int | None = None
        self._remote = False
        self._clock = 0
        self._outbox: list[bytes] = []
        self.doc.observe(self._on_local)

    def _on_local(self, event: Any) -> None:
        if not self._remote and event.update != b"\x00\x00":
            self._outbox.append(create_update_message(event.update))

    async def run(self) -> None:
        try:
            await self.ws.send(create_sync_message(self.doc))
            async for message in self.ws:
                assert isinstance(message, bytes)
                if message[0] == YMessageType.SYNC:
                    self._remote = True
                    try:
                        reply = handle_sync_message(message[1:], self.doc)
                    finally:
                        self._remote = False
                    if reply is not None:
                        await self.ws.send(reply)
                    if message[1] == 1:  # SYNC_STEP2: the server's state is in
                        self.synced.set()
                elif message[0] == YMessageType.AWARENESS:
                    decoder = StrictDecoder(message)
                    decoder.read_var_uint()
                    for entry in parse_awareness_update(decoder.read_payload()):
                        if entry.client_id == self.doc.client_id:  # the server re-stamped us (y-protocols)
                            self._clock = max(self._clock, entry.clock)
                        state = json.loads(entry.state_json)
                        if state is None:
                            self.awareness.pop(entry.client_id, None)
                        else:
                            self.awareness[entry.client_id] = state
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def edit(self, change: Callable[[Doc], None]) -> None:
        """Make a local change and send it as a y-websocket update."""
        self._outbox = []
        change(self.doc)
        for message in self._outbox:
            await self.ws.send(message)

    async def set_awareness(self, state: dict[str, Any]) -> None:
        self._clock += 1
        update = encode_awareness([(self.doc.client_id, self._clock, json.dumps(state))])
        await self.ws.send(create_awareness_message(update))

    def file_text(self, path: str = "main.py") -> str:
        files = self.doc.get("files", type=Map)
        return str(files[path]) if path in files else ""

    def comment_count(self) -> int:
        from pycrdt import Array

        return len(self.doc.get("comments", type=Array))

    async def whoami(self) -> dict[str, Any]:
        """This connection's identity as the server stamps it ({id, name, color}): a comment's author."""
        await self.set_awareness({})
        with anyio.fail_after(10):
            while "user" not in self.awareness.get(self.doc.client_id, {}):
                await anyio.sleep(0.02)
        user = self.awareness[self.doc.client_id]["user"]
        return {"id": user["id"], "name": user["name"], "color": user["color"]}

    def users(self) -> list[dict[str, Any]]:
        return [s["user"] for s in self.awareness.values() if "user" in s]


def ws_url(base: str, room: str, **params: str) -> str:
    query = ("?" + urlencode(params)) if params else ""
    return f"{base}/{quote(room, safe='')}{query}"


@asynccontextmanager
async def yclient(
    base: str, room: str, *, cookie: str | None = None, origin: str | None = None, **params: str
) -> AsyncIterator[YClient]:
    headers = {"cookie": cookie} if cookie else {}
    async with connect(ws_url(base, room, **params), additional_headers=headers, origin=origin) as ws:  # type: ignore[arg-type]
        client = YClient(ws)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)
            yield client
            tg.cancel_scope.cancel()


def insert_file(path: str, text: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        files = doc.get("files", type=Map)
        if path in files:
            current = files[path]
            current.insert(len(current), text)
        else:
            files[path] = Text(text)

    return change


def add_comment(body: str, author: dict[str, Any] | None = None) -> Callable[[Doc], None]:
    """A thread as the page writes it (`author`: the writer's stamped identity, see `whoami`)."""

    def change(doc: Doc) -> None:
        from pycrdt import Array

        fields: dict[str, Any] = {"id": body[:16], "file": "main.py", "body": body, "resolved": False}
        fields |= {"author": author or {}, "createdAt": time.time() * 1000, "replies": Array()}
        doc.get("comments", type=Array).append(Map(fields))

    return change

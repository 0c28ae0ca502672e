"""pycrdt's own provider over a real WebSocket, and a raw y-protocol client for bad-input tests."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from pycrdt import Doc, Provider
from websockets.asyncio.client import ClientConnection, connect


class WebsocketChannel:
    """pycrdt's `Channel` on a `websockets` client connection; awareness frames are skipped."""

    def __init__(self, websocket: ClientConnection, path: str) -> None:
        self._ws = websocket
        self._path = path
        # The latest awareness state of every client, as the server relays it.
        self.awareness: dict[int, dict] = {}

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WebsocketChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except Exception as exc:
            raise StopAsyncIteration from exc

    async def send(self, message: bytes) -> None:
        await self._ws.send(message)

    async def recv(self) -> bytes:
        while True:
            message = await self._ws.recv()
            if isinstance(message, bytes) and message[:1] == b"\x00":
                return message
            if isinstance(message, bytes) and message[:1] == b"\x01":
                self._note_awareness(message)

    def _note_awareness(self, message: bytes) -> None:
        from backend.rooms.protocol import StrictDecoder, parse_awareness_update

        decoder = StrictDecoder(message)
        decoder.read_var_uint()
        for entry in parse_awareness_update(decoder.read_payload()):
            state = json.loads(entry.state_json)
            if state is None:
                self.awareness.pop(entry.client_id, None)
            else:
                self.awareness[entry.client_id] = state

    def durable_state_vector(self) -> dict[int, int]:
        """What the server says it has persisted (its own awareness entry), decoded."""
        for state in self.awareness.values():
            durable = state.get("tandem", {}).get("durable")
            if durable is not None:
                return decode_state_vector(base64.b64decode(durable))
        return {}


def room_url(ws_base: str, room: str) -> str:
    return f"{ws_base}/{quote(room, safe='')}"


@asynccontextmanager
async def pycrdt_client(
    ws_base: str, room: str, doc: Doc | None = None, *, query: str = ""
) -> AsyncIterator[tuple[Doc, Provider]]:
    """`query`: e.g. "?name=Alice" (how a `--no-auth` server names the client)."""
    doc = doc if doc is not None else Doc()
    async with connect(room_url(ws_base, room) + query, max_size=None) as ws:
        channel = WebsocketChannel(ws, room)
        async with Provider(doc, channel) as provider:
            provider.channel = channel  # type: ignore[attr-defined]
            yield doc, provider


def decode_state_vector(sv: bytes) -> dict[int, int]:
    from pycrdt import Decoder

    decoder = Decoder(sv)
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())}

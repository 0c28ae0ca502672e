"""pycrdt-websocket's reference server (`ASGIServer(WebsocketServer())`) for uvicorn, as its docs show.

Run: `uvicorn bench.reference_pycrdt:app --port P`. An exception handler keeps a room alive when a
client disconnects mid-send (0.16.5 otherwise tears the server down), so the comparison runs.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from pycrdt.websocket import ASGIServer, WebsocketServer

log = logging.getLogger("reference")


def _handled(exc: Exception, logger: logging.Logger) -> bool:
    logger.debug("room error: %r", exc)
    return True


class App:
    def __init__(self) -> None:
        self.server = WebsocketServer(exception_handler=_handled)
        self.asgi = ASGIServer(self.server)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            async with anyio.create_task_group() as tg:
                await tg.start(self.server.start)
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await self.server.stop()
                        await send({"type": "lifespan.shutdown.complete"})
                        tg.cancel_scope.cancel()
                        return
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await self.asgi(scope, receive, send)


app = App()

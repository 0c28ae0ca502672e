"""A misbehaving Docker engine on a unix socket: answers every request with an error, or never.

The point of these tests is the engine's misbehaviour, which a real dockerd will not produce on
demand; the server under test is real (`tandem serve` in its own process).
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

Behaviour = Literal["error", "hang"]


@contextmanager
def fake_engine(path: Path, behaviour: Behaviour) -> Iterator[str]:
    """Serve `behaviour` on the unix socket `path`; yields the `DOCKER_HOST` URL."""
    stop = threading.Event()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while not stop.is_set():
                try:
                    line = self.rfile.readline()
                except OSError:
                    return
                if not line:
                    return
                if line not in (b"\r\n", b"\n"):
                    continue  # headers of the request; its end is the blank line
                if behaviour == "hang":
                    stop.wait()
                    return
                body = b'{"message":"fake engine: internal error"}'
                head = (
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + body)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(str(path), Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"fake-engine-{behaviour}", daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_socket(path: Path) -> str:
    """A unix socket file nobody listens on (a daemon that stopped); yields its `DOCKER_HOST`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"

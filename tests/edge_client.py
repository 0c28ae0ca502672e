"""Raw-socket clients for the edge tests: a request with any Host, a WebSocket handshake with any
Host and Origin, half-sent requests, and the server process's memory and descriptors."""

from __future__ import annotations

import base64
import os
import select
import socket
from pathlib import Path


def raw_request(port: int, head: str, timeout: float = 10.0) -> bytes:
    """Send `head` (request line and headers, no final blank line) and read the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n\r\n")
        return s.recv(4096)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


def handshake(port: int, path: str, host: str, origin: str | None = None) -> int:
    """A WebSocket handshake's HTTP status (101 accepted, 403 refused before accept)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return status_of(raw_request(port, "\r\n".join(lines)))


def open_websocket(port: int, path: str) -> socket.socket:
    """An accepted WebSocket held open (the caller closes the socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = s.recv(4096)
    assert status_of(answer) == 101, answer
    return s


def closed_by_peer(s: socket.socket) -> bool:
    """True once the server closed `s` (EOF, reset, or an answer followed by EOF)."""
    readable, _, _ = select.select([s], [], [], 0)
    if not readable:
        return False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
            readable, _, _ = select.select([s], [], [], 0)
            if not readable:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))

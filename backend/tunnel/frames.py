"""The tunnel's messages on the bus: `kind` says what, `data` = tunnel id + sequence + payload.

Each node reads one inbox channel (`inbox(node_id)`); both ends of a tunnel number their messages
so that a lost one (the bus drops under overload, or while Redis is away) is noticed and the
tunnel closes with 1012 (the client reconnects) instead of running on with a hole in a terminal's
output or a signaling exchange.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import asdict
from typing import Any

from backend.auth.types import SCOPE_PRINCIPAL, Principal, PrincipalKind, Role

OPEN = "o"  # entry -> owner: JSON {reply, route, scope, principal}
ACCEPT = "a"  # owner -> entry: JSON {subprotocol}
TEXT = "t"  # either way: a text frame (UTF-8)
BYTES = "b"  # either way: a binary frame
CLOSE = "c"  # owner -> entry: JSON {code, reason}; the endpoint closed the connection
DISCONNECT = "d"  # entry -> owner: JSON {code}; the client went away
ACK = "k"  # entry -> owner: JSON {bytes}: delivered to the client so far (flow control)

TID_LEN = 12
_HEADER = struct.Struct(f">{TID_LEN}sI")
HEADER_LEN = _HEADER.size


def inbox(node_id: str) -> str:
    return f"node:{node_id}"


def new_tunnel_id() -> str:
    return secrets.token_hex(TID_LEN // 2)


def pack(tid: str, seq: int, payload: bytes) -> bytes:
    return _HEADER.pack(tid.encode(), seq) + payload


def unpack(data: bytes) -> tuple[str, int, bytes]:
    """(tunnel id, sequence, payload); ValueError for a malformed message."""
    if len(data) < HEADER_LEN:
        raise ValueError("tunnel message shorter than its header")
    tid, seq = _HEADER.unpack_from(data)
    return tid.decode("ascii"), seq, data[HEADER_LEN:]


def dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def principal_to_json(p: Principal) -> dict[str, Any]:
    return asdict(p)


def principal_from_json(d: dict[str, Any]) -> Principal:
    return Principal(
        id=str(d["id"]),
        name=str(d["name"]),
        role=Role(d["role"]),
        color=str(d["color"]),
        session=d.get("session"),
        kind=PrincipalKind(d["kind"]),
        ref=str(d.get("ref", "")),
    )


# Credentials stay on the entry node: the owner trusts the principal it is handed.
_PRIVATE_HEADERS = {b"cookie", b"authorization"}


def scope_to_json(scope: dict[str, Any]) -> dict[str, Any]:
    query = b"&".join(
        part for part in scope.get("query_string", b"").split(b"&") if part and not part.startswith(b"token=")
    )
    return {
        "path": scope["path"],
        "raw_path": (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        "query_string": query.decode("latin-1"),
        "headers": [
            [k.decode("latin-1"), v.decode("latin-1")]
            for k, v in scope.get("headers", [])
            if k.lower() not in _PRIVATE_HEADERS
        ],
        "client": list(scope["client"]) if scope.get("client") else None,
        "scheme": scope.get("scheme", "ws"),
        "subprotocols": list(scope.get("subprotocols", [])),
    }


def scope_from_json(d: dict[str, Any], principal: Principal) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": d.get("scheme", "ws"),
        "path": d["path"],
        "raw_path": d["raw_path"].encode("latin-1"),
        "root_path": "",
        "query_string": d["query_string"].encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in d["headers"]],
        "client": tuple(d["client"]) if d.get("client") else None,
        "server": None,
        "subprotocols": d.get("subprotocols", []),
        "state": {},
        SCOPE_PRINCIPAL: principal,
    }

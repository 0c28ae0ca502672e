"""Structured logs: JSON lines off a terminal, request id / session / principal on each line,
and no secret or token ever logged (the redaction filter, in unit tests and on a real server)."""

from __future__ import annotations

import io
import json
import logging
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend.ops import logcontext
from backend.ops.logs import JsonFormatter, PlainFormatter, RedactFilter, redact

SECRET = "s3cr3t-Tok3n-VALUE-0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        f"GET /yjs/room?token={SECRET}&x=1",
        f"cookie: tandem_login={SECRET}; tandem_csrf={SECRET}",
        f"cookie tandem_guest_abc-123={SECRET}",
        f"{{'token': '{SECRET}', 'name': 'ann'}}",
        f'{{"password": "{SECRET}"}}',
        f"Authorization: Bearer {SECRET}",
        f"joined via /join/{SECRET}",
        f"url=postgresql://tandem:{SECRET}@db:5432/tandem",
        f"link_token={SECRET}",
    ],
)
def test_redact_hides_secrets(text: str) -> None:
    out = redact(text)
    assert SECRET not in out
    assert "[REDACTED]" in out


def test_redact_keeps_ordinary_text() -> None:
    text = "room 'a/b' loaded (12 stored updates) principal=u1:ann"
    assert redact(text) == text


def _emit(formatter: logging.Formatter, msg: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger(f"tandem.test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning(msg, *args)
    return stream.getvalue()


def test_json_lines_carry_context_and_never_the_args_raw() -> None:
    tokens = [
        logcontext.request_id.set("req-1"),
        logcontext.session.set("sess-1"),
        logcontext.principal.set("u1:ann"),
    ]
    try:
        line = _emit(JsonFormatter(), "refused %s", f"/yjs/x?token={SECRET}")
    finally:
        for var, token in zip(
            (logcontext.request_id, logcontext.session, logcontext.principal), tokens, strict=True
        ):
            var.reset(token)
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["request_id"] == "req-1" and entry["session"] == "sess-1" and entry["principal"] == "u1:ann"
    assert SECRET not in line and "token=[REDACTED]" in entry["msg"]


def test_exceptions_are_redacted_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainFormatter())
    handler.addFilter(RedactFilter())
    logger = logging.getLogger(f"tandem.test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise ValueError(f"bad password={SECRET}")
    except ValueError:
        logger.exception("failed")
    assert SECRET not in stream.getvalue()
    assert "password=[REDACTED]" in stream.getvalue()


@pytest.mark.anyio
async def test_server_logs_json_with_request_ids_and_no_tokens(auth_server) -> None:  # type: ignore[no-untyped-def]
    # Credentials the server must never write down: a share-link token, a login cookie, a password.
    r = httpx.get(auth_server.http_url + "/healthz", headers={"x-request-id": "ops-log-test-1"})
    assert r.headers["x-request-id"] == "ops-log-test-1"
    httpx.get(f"{auth_server.http_url}/join/{SECRET}", cookies={"tandem_login": SECRET})
    httpx.post(auth_server.http_url + "/api/auth/login", json={"username": "nobody", "password": SECRET})
    url = f"{auth_server.ws_url}/no-such-session?token={SECRET}"
    try:
        async with connect(url) as ws:
            await ws.recv()
    except (ConnectionClosed, OSError, Exception):  # refused or closed: either way it was logged or not
        pass
    log = auth_server.log()
    assert SECRET not in log
    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert lines, log[-2000:]
    entries = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in entries)


@pytest.mark.anyio
async def test_connection_log_lines_name_session_and_principal(server) -> None:  # type: ignore[no-untyped-def]
    room = f"ops-log-{uuid.uuid4().hex[:8]}"
    async with connect(f"{server.ws_url}/{room}") as ws:
        await ws.recv()  # sync step 1 from the server
        await ws.send(b"\x00\x07junk")  # an unknown sync message type: a protocol error, logged
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    hits = [e for e in entries if e.get("session") == room and "protocol error" in e["msg"]]
    assert hits, [e for e in entries if room in e["msg"]]
    assert hits[0]["request_id"] and hits[0]["principal"]

"""The edge against a real `tandem serve`: request bodies capped while read (a big POST costs no
memory), only allowed Hosts (DNS rebinding) on HTTP and all three WebSocket channels, and
half-sent requests (slowloris) timed out and capped per IP while `/healthz` keeps answering."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.edge_client import (
    closed_by_peer,
    handshake,
    open_fds,
    open_websocket,
    proc_status,
    raw_request,
    status_of,
)
from tests.support import TandemServer, running_server, wait_until

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def noauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_ALLOWED_HOSTS": '["tandem.internal"]', "TANDEM_HTTP_BODY_TIMEOUT_SECONDS": "2"}
    with running_server(tmp_path_factory.mktemp("edge") / "data", None, env=env) as server:
        yield server


def test_favicon_is_the_app_icon(noauth: TandemServer) -> None:
    """Browsers fetch /favicon.ico on pages without an icon link; it must not be a 404."""
    answer = httpx.get(f"http://127.0.0.1:{noauth.port}/favicon.ico", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")


# -- bodies ------------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_sent(noauth: TandemServer) -> None:
    answer = raw_request(
        noauth.port,
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {400 * MiB}",
    )
    assert status_of(answer) == 413, answer


def test_a_streamed_body_gets_413_and_costs_the_server_no_memory(tmp_path: Path) -> None:
    """The attack of the review: a huge unauthenticated POST to the login route, here chunked so
    no Content-Length gives it away. The server answers 413 after the cap and stops reading."""
    with running_server(tmp_path / "data", None, auth=True) as server:
        assert server.proc is not None
        pid = server.proc.pid
        before = proc_status(pid)
        budget = 64 * MiB  # what we are prepared to send; a server that reads it all grows by it
        sent, answer = 0, b""
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\n[[[\r\n"
            )
            chunk = b"%x\r\n" % (256 * 1024) + b"1," * (128 * 1024) + b"\r\n"
            deadline = time.monotonic() + 60
            while sent < budget and time.monotonic() < deadline:
                if select.select([s], [], [], 0)[0]:
                    break
                if not select.select([], [s], [], 1)[1]:
                    continue  # the server stopped reading: wait for its answer
                try:
                    sent += s.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                pytest.fail(f"reset without an answer after {sent} bytes")
        after = proc_status(pid)
        print(
            f"sent {sent / MiB:.1f} MiB; VmRSS {before['VmRSS']} -> {after['VmRSS']} KiB, "
            f"VmHWM {before['VmHWM']} -> {after['VmHWM']} KiB"
        )
        assert status_of(answer) == 413, answer
        assert sent < budget, "the server read the whole body"
        assert after["VmHWM"] - before["VmHWM"] < 16 * 1024, (before, after)
        assert httpx.get(server.http_url + "/healthz").status_code == 200


def test_a_small_form_still_works_and_a_slow_body_gets_408(noauth: TandemServer) -> None:
    # A normal small POST reaches the route (no CSRF token: its own 403 page, not 413).
    r = httpx.post(noauth.http_url + "/api/auth/login", json={"username": "a", "password": "b"})
    assert r.status_code != 413
    with socket.create_connection(("127.0.0.1", noauth.port), timeout=10) as s:
        s.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        assert status_of(s.recv(4096)) == 408  # after TANDEM_HTTP_BODY_TIMEOUT_SECONDS


# -- hosts (DNS rebinding) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, status",
    [
        ("evil.example:{port}", 400),
        ("evil.example", 400),
        ("127.0.0.1.evil.example:{port}", 400),
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("[::1]:{port}", 200),
        ("LOCALHOST.", 200),
        ("tandem.internal", 200),  # TANDEM_ALLOWED_HOSTS
        ("192.168.1.5:{port}", 200),  # an IP literal is the server's own origin: not a rebinding
        ("192.168.1.5.nip.io:{port}", 400),  # a name that resolves to it is
    ],
)
def test_http_answers_only_allowed_hosts(noauth: TandemServer, host: str, status: int) -> None:
    answer = raw_request(noauth.port, f"GET /healthz HTTP/1.1\r\nHost: {host.format(port=noauth.port)}")
    assert status_of(answer) == status, answer


def test_a_request_without_a_host_or_with_two_is_refused(noauth: TandemServer) -> None:
    assert status_of(raw_request(noauth.port, "GET /healthz HTTP/1.0")) == 400
    two = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{noauth.port}\r\nHost: evil.example"
    assert status_of(raw_request(noauth.port, two)) == 400


@pytest.mark.parametrize("path", ["/yjs/rebind", "/term/rebind/main", "/signal/rebind"])
def test_a_rebound_websocket_is_refused_on_every_channel(noauth: TandemServer, path: str) -> None:
    """Under --no-auth a forged handshake used to reach the sandbox: Host and Origin both say
    evil.example (the page's own name after a rebinding), so they match each other."""
    port = noauth.port
    evil = f"evil.example:{port}"
    assert handshake(port, path, evil, f"http://{evil}") == 403
    assert handshake(port, path, evil) == 403  # no Origin does not help
    # An allowed Host with a foreign Origin is still refused; the same site is accepted.
    assert handshake(port, path, f"127.0.0.1:{port}", f"http://{evil}") == 403
    assert handshake(port, path, f"localhost:{port}", f"http://localhost:{port}") == 101
    assert handshake(port, path, f"127.0.0.1:{port}") == 101


# -- slowloris ---------------------------------------------------------------------------------


def test_half_sent_requests_are_capped_per_ip_and_timed_out(tmp_path: Path) -> None:
    env = {"TANDEM_CONNECTIONS_PER_IP": "40", "TANDEM_HTTP_HEADER_TIMEOUT_SECONDS": "3"}
    with running_server(tmp_path / "data", None, env=env) as server:
        assert server.proc is not None
        pid = server.proc.pid
        baseline = open_fds(pid)
        attackers: list[socket.socket] = []
        try:
            for i in range(300):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(f"GET /healthz?{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
                attackers.append(s)
            # Health checks from the same IP still get in: the oldest half-sent sockets make room.
            for _ in range(5):
                assert httpx.get(server.http_url + "/healthz", timeout=20).status_code == 200
            assert open_fds(pid) < baseline + 40 + 10
            assert _metric(server, "tandem_tcp_connections_evicted_total") >= 300 - 40
            # Every half-sent request is closed by the header timeout at the latest.
            wait_until(lambda: all(closed_by_peer(s) for s in attackers), timeout=30, what="all closed")
            wait_until(lambda: open_fds(pid) <= baseline + 2, timeout=10, what="descriptors back")
        finally:
            for s in attackers:
                s.close()


def test_websockets_count_toward_the_per_ip_cap(tmp_path: Path) -> None:
    env = {"TANDEM_CONNECTIONS_PER_IP": "5"}
    with running_server(tmp_path / "data", None, env=env) as server:
        held = [open_websocket(server.port, f"/yjs/cap{i}") for i in range(5)]
        try:
            # Five live WebSockets are not idle: nothing to evict, so the sixth is refused.
            assert status_of(raw_request(server.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")) == 503
        finally:
            for s in held:
                s.close()
        wait_until(
            lambda: status_of(raw_request(server.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")) == 200,
            timeout=10,
            what="slots released",
        )


def _metric(server: TandemServer, name: str) -> float:
    text = httpx.get(server.http_url + "/metrics", timeout=20).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))

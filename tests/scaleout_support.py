"""Support for the multi-node tests: nodes on one Redis (a key prefix per test) and one PostgreSQL,
a private redis-server that a test may restart, and reading a room straight from the database."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import redis
from pycrdt import Doc, Text, merge_updates
from sqlalchemy import Engine

from backend.settings import Settings
from backend.store.database import make_engine
from backend.store.sql import SqlDocumentStore
from tests.support import TandemServer, free_port, wait_until

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def node_env(redis_url: str, prefix: str) -> dict[str, str]:
    return {
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_REDIS_PREFIX": prefix,
        "TANDEM_BUS_HEARTBEAT_SECONDS": "0.2",
        "TANDEM_BUS_PEER_EXPIRY_SECONDS": "2",
    }


def new_node(data: Path, database_url: str, redis_url: str, prefix: str) -> TandemServer:
    return TandemServer(data, database_url, "--sandbox", "off", env=node_env(redis_url, prefix))


def start_all(servers: list[TandemServer]) -> list[TandemServer]:
    with ThreadPoolExecutor(len(servers)) as pool:
        return list(pool.map(TandemServer.start, servers))


def stop_all(servers: list[TandemServer]) -> None:
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def delete_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextmanager
def redis_prefix(redis_url: str = SHARED_REDIS) -> Iterator[str]:
    prefix = f"tandem-test-{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        delete_prefix(redis_url, prefix)


class PrivateRedis:
    """Our own redis-server (never the shared one) on a free port, without persistence: a restart
    loses every stream, the harshest case for the nodes' repair."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([*args, "--dir", str(self.workdir)], stdout=log, stderr=log)
        log.close()
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(up, timeout=10, what="redis-server to answer")
        finally:
            client.close()
        return self

    def restart(self) -> PrivateRedis:
        """Start again on the same port (after `kill`): empty, as after a crash without persistence."""
        return self.start()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


def stored_text(database_url: str, room: str, name: str = "t") -> str:
    """The room exactly as PostgreSQL holds it (snapshot + log), without any node."""
    engine: Engine = make_engine(Settings(database_url=database_url).resolved_database_url())
    try:
        stored = SqlDocumentStore(engine, shared=True).load(room)
    finally:
        engine.dispose()
    doc: Doc = Doc()
    parts = ([stored.snapshot] if stored.snapshot else []) + stored.updates
    if parts:
        doc.apply_update(parts[0] if len(parts) == 1 else merge_updates(*parts))
    return str(doc.get(name, type=Text))


class TcpProxy:
    """A TCP forwarder we own, in front of the shared PostgreSQL: `cut()` drops every connection
    and refuses new ones (the database "goes away" for the nodes only), `restore()` brings it back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self._listener is not None
        # shutdown first: close() alone leaves a thread blocked in accept() listening.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.start()

    def url_for(self, database_url: str) -> str:
        """`database_url` (on 127.0.0.1:5432) through this proxy."""
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

"""Test support: a real `tandem serve` process on a free port, and databases to point it at."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "TANDEM_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def eventually(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.01, what: str = "condition"
) -> None:
    """Poll state the clients update until `predicate()` holds; fail after `timeout` seconds.

    The one async wait of the suite: a deadline on an observed condition, never a bare sleep.
    """
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(interval)


TEST_THROTTLES = {
    "TANDEM_SIGNUP_MAX_PER_IP": "10000",
    "TANDEM_JOIN_MAX_PER_IP": "10000",
    "TANDEM_LOGIN_IP_MAX_ATTEMPTS": "10000",
}


class TandemServer:
    """`python -m backend serve` in its own process, as a user would run it."""

    def __init__(
        self,
        data: Path,
        database_url: str | None,
        *extra: str,
        env: dict[str, str] | None = None,
        auth: bool = False,
    ):
        self.auth = auth  # False: `--no-auth`; True: accounts and share links, as in production
        self.data = data
        self.database_url = database_url
        self.extra = list(extra)
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data / f"server-{self.port}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/yjs"

    def start(self) -> TandemServer:
        self.data.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "backend", "serve", "--port", str(self.port)]
        if not self.auth:
            args.append("--no-auth")
        args += ["--data", str(self.data)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        args += self.extra
        # Terminals off unless a test asks for them: "auto" would depend on which images exist here.
        # Per-IP throttles sized for one test machine where every client is 127.0.0.1 (a module's
        # server sees dozens of sign-ups and joins); the throttle tests set their own small values.
        env = {**os.environ, "TANDEM_SANDBOX": "off", **TEST_THROTTLES, **self.env}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(self.http_url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=90, what="tandem serve to answer /healthz")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`tandem ARGS` against this server's data directory and database, as an operator runs it."""
        return run_cli(self.data, self.database_url, *args, input=input, check=check)


def run_cli(
    data: Path, database_url: str | None, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "backend", *args, "--data", str(data)]
    if database_url:
        cmd += ["--database-url", database_url]
    result = subprocess.run(cmd, cwd=ROOT, input=input or "", capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"tandem {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@contextmanager
def running_server(
    data: Path, database_url: str | None, *extra: str, auth: bool = False, env: dict[str, str] | None = None
) -> Iterator[TandemServer]:
    server = TandemServer(data, database_url, *extra, auth=auth, env=env).start()
    try:
        yield server
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, dropped afterwards."""
    import psycopg

    name = f"tandem_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

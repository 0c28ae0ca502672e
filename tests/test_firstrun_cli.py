"""The CLI and the server agree: same database from the same place, no silently created empty
database, links on the address the server really serves (or TANDEM_PUBLIC_URL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, running_server

PASSWORD = "correct horse battery"


def tandem(
    cwd: Path, *args: str, env: dict[str, str] | None = None, input: str = ""
) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=cwd,
        env={**environment, "PYTHONPATH": str(ROOT), **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_database_is_refused_not_created(tmp_path: Path) -> None:
    done = tandem(tmp_path, "session", "create", "X", "--owner", "alice")
    assert done.returncode == 1
    assert f"no database at {tmp_path / 'data' / 'tandem.db'}" in done.stderr and "--create" in done.stderr
    assert not (tmp_path / "data").exists()
    created = tandem(tmp_path, "user", "add", "alice", "--create", input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "creating a new database at" in created.stderr and (tmp_path / "data" / "tandem.db").exists()


def test_cli_in_the_servers_directory_uses_its_database_and_address(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, None, auth=True) as server:
        # Run from the directory the data lives in, with no --data: the default ./data is the server's.
        added = tandem(tmp_path, "user", "add", "alice", input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        assert f"database: {data / 'tandem.db'}" in added.stderr
        sid = (
            tandem(tmp_path, "session", "create", "Ours", "--owner", "alice").stdout.strip().splitlines()[-1]
        )
        link = tandem(tmp_path, "link", "create", sid, "--role", "viewer")
        url = link.stdout.strip().splitlines()[-2]
        assert url.startswith(f"http://127.0.0.1:{server.port}/join/"), url
        assert "TANDEM_PUBLIC_URL" in link.stderr
        import httpx

        assert httpx.get(url, timeout=5).status_code in (200, 303)
        public = tandem(
            tmp_path,
            "link",
            "create",
            sid,
            "--role",
            "viewer",
            env={"TANDEM_PUBLIC_URL": "https://pair.example"},
        )
        assert public.stdout.strip().splitlines()[-2].startswith("https://pair.example/join/")


def test_serve_refuses_a_data_directory_it_cannot_write(tmp_path: Path) -> None:
    """A read-only data directory (root bypasses modes, not a read-only mount) is one clear line."""
    readonly = tmp_path / "ro"
    readonly.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(readonly)], check=True)
    try:
        done = tandem(tmp_path, "serve", "--sandbox", "off", "--port", "9", "--data", str(readonly / "data"))
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert f"cannot write the data directory {readonly / 'data'}" in done.stderr
        assert "Traceback" not in done.stderr and "--data" in done.stderr
    finally:
        subprocess.run(["umount", str(readonly)], check=True)

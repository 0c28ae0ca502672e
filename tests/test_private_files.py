"""What Tandem keeps on disk is owner-only: the data directory, the SQLite database with its
-wal/-shm, backups (scheduled and `tandem backup`) and workspaces are 0700 directories and 0600
files — also for an install whose files were made world-readable before this rule. The sandbox
user (uid 1000) still writes its workspace."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycrdt import Map, Text

from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from tests.pyclient import pycrdt_client
from tests.support import TandemServer, eventually
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _world_readable_install(data: Path) -> None:
    """An install from before: a 0755 data directory and a 0644 database."""
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    db = data / "tandem.db"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TandemServer]:
    data = tmp_path / "data"
    _world_readable_install(data)
    with sandbox_server(data, TANDEM_BACKUP_DIR=str(tmp_path / "backups")) as running:
        yield running


async def test_database_wal_backups_and_workspaces_are_owner_only(
    tmp_path: Path, server: TandemServer
) -> None:
    data = server.data
    backups = tmp_path / "backups"
    session = new_session()
    async with pycrdt_client(server.ws_url, session) as (doc, _):
        doc.get("files", type=Map)["a.txt"] = Text("hello")
    async with term_client(term_url(server, session)) as editor:
        await editor.read_until(b"$ ")
        # The sandbox user still writes its 0700 workspace.
        await editor.run("echo from-terminal > t.txt && echo wrote-$((1+1))", "wrote-2")
    workspace = workspace_dir(Settings(data=data), session)
    assert (workspace / "t.txt").read_text() == "from-terminal\n"
    await eventually(lambda: Path(f"{data / 'tandem.db'}-wal").exists(), timeout=15)
    await eventually(lambda: any(backups.glob("tandem-*.db")), timeout=30, what="a scheduled backup")
    manual = server.cli("backup", str(tmp_path / "manual" / "b.db"))
    assert manual.returncode == 0

    dirs = [data, data / "workspaces", workspace, backups, tmp_path / "manual"]
    files = [
        data / "tandem.db",
        Path(f"{data / 'tandem.db'}-wal"),
        Path(f"{data / 'tandem.db'}-shm"),
        *backups.glob("tandem-*.db"),
        tmp_path / "manual" / "b.db",
    ]
    for d in dirs:
        assert _mode(d) == 0o700, d
    for f in files:
        assert _mode(f) == 0o600, f
    assert workspace.stat().st_uid == 1000  # the container user's, so it can write
    # Nothing the server made under the data directory is readable by others (the test's own
    # server log aside; what the sandbox user creates inside its workspace is behind 0700).
    for root, dirnames, filenames in os.walk(data):
        if Path(root) == data / "workspaces":
            dirnames.clear()
            continue
        for name in [*dirnames, *filenames]:
            path = Path(root) / name
            if not name.startswith("server-"):
                assert _mode(path) & 0o077 == 0, path

"""Online backups and restores of the database: everything a session is (documents, history,
accounts, links) lives there; workspaces on disk are derived from the documents.

- SQLite: the sqlite3 online backup API copies a consistent snapshot while the server writes
  (WAL mode); the copy is checked with `PRAGMA integrity_check` and renamed into place atomically.
- PostgreSQL: `pg_dump --format=custom` (one consistent transaction snapshot), restored with
  `pg_restore` into an empty database. Both must be on PATH (Debian: `postgresql-client`).

A backup holds what is persisted: at most `group_commit_ms` behind the live rooms.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect

from backend.errors import TandemError
from backend.store.private import private_dir, private_file

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(TandemError):
    """A backup or restore could not be made; the message says why."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(path)


def libpq_url(url: str) -> str:
    """`postgresql+psycopg://...` -> `postgresql://...` (what pg_dump understands)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def backup(url: str, target: Path) -> Path:
    """Write a consistent copy of the database at `url` to `target` (atomically); returns it."""
    target = target.resolve()
    private_dir(target.parent, tighten_existing=False)  # an operator's directory: created 0700 only
    # A partial file of its own: nodes sharing a backup volume may write the same name at once.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    try:
        private_file(tmp)  # 0600 before a byte is written: sqlite3 and pg_dump keep the mode
        db = sqlite_path(url)
        if db is not None:
            _sqlite_backup(db, tmp)
        else:
            _pg_dump(url, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _sqlite_backup(source: Path, tmp: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        with dst:
            # In one step: a read transaction on the WAL never blocks the server's writers, whereas a
            # stepped backup restarts whenever another connection writes (forever under steady edits).
            src.backup(dst)
        ok = dst.execute("PRAGMA integrity_check").fetchone()
        if not ok or ok[0] != "ok":
            raise BackupError(f"the backup failed its integrity check: {ok}")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _pg_dump(url: str, tmp: Path) -> None:
    cmd = [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={tmp}", f"--dbname={libpq_url(url)}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")


def restore(source: Path, url: str) -> None:
    """Load a backup into an empty database (refuses to overwrite one that has tables)."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    with open(source, "rb") as fh:
        head = fh.read(16)
    db = sqlite_path(url)
    if db is not None:
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a SQLite backup (a PostgreSQL dump needs a PostgreSQL URL)")
        if db.exists() and db.stat().st_size > 0 and _has_tables(url):
            raise BackupError(f"{db} already holds a database: restore into an empty data directory")
        private_dir(db.parent, tighten_existing=False)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        private_file(db)
        _sqlite_backup(source, db)
        return
    if not head.startswith(PGDUMP_MAGIC):
        raise BackupError(f"{source} is not a pg_dump custom-format backup")
    if _has_tables(url):
        raise BackupError("the target database already has tables: restore into an empty database")
    cmd = [_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={libpq_url(url)}", str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def _has_tables(url: str) -> bool:
    engine = create_engine(url)
    try:
        return bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def backup_name(url: str, when: datetime) -> str:
    suffix = "db" if sqlite_path(url) is not None else "pgdump"
    return f"tandem-{when.astimezone(UTC).strftime(STAMP)}.{suffix}"


def parse_backup_name(name: str) -> datetime | None:
    """The time of a scheduled backup from its file name; None for other files."""
    if not name.startswith("tandem-") or "." not in name:
        return None
    try:
        return datetime.strptime(name[len("tandem-") :].split(".", 1)[0], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None

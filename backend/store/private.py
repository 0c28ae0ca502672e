"""Owner-only modes for what Tandem keeps on disk: the data directory, the SQLite database with
its `-wal`/`-shm`, backups and workspaces hold password hashes and every document.

Directories are 0700 and files 0600, applied on creation (never a window where another local
user could open them) and re-applied at start-up to installs made before this rule. SQLite
gives its `-wal`/`-shm`/`-journal` the database file's own mode, so creating the database 0600
covers them; they are tightened too in case an older run left them wider.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("tandem.store")

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten_existing: bool = True) -> Path:
    """Create `path` (and missing parents) 0700; make an existing `path` 0700 when it is Tandem's
    own (`tighten_existing`: the data and backup directories, never the parent of a path an
    operator typed) and not a shared directory (sticky, like /tmp, or the root)."""
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if not existed or tighten_existing:
        st = path.stat()
        if st.st_mode & stat.S_ISVTX or path.resolve() == Path("/"):
            log.warning("%s is a shared directory: its mode is left as is", path)
        else:
            _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with 0600 unless it exists; make it 0600 either way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def private_sqlite(db: Path) -> None:
    """The database file (created 0600 when missing) and its side files, owner-only."""
    private_dir(db.parent, tighten_existing=False)  # the data directory is tightened by `serve`
    private_file(db)
    for suffix in SQLITE_SIDE_FILES:
        side = Path(f"{db}{suffix}")
        if side.exists():
            _tighten(side, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError as exc:  # not ours (e.g. a shared parent): say so, do not fail
        log.warning("cannot make %s mode %o: %s", path, mode, exc)

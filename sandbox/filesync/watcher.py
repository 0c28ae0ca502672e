"""`TreeWatcher`: inotify on a workspace tree that never follows a symlink, with a bound on watches.

A general-purpose recursive watcher (watchfiles/notify) walks into symlinked directories: a
link to `/usr` planted in the workspace registered 16,297 watches, one to `/` would exhaust
the host's limit. Here every directory is opened from the root one component at a time with
`O_NOFOLLOW` (the `SafeRoot` walk) and watched through its open fd (`/proc/self/fd/N` names
exactly the directory that was opened, even if the path is swapped meanwhile); a symlink is
reported as a changed path, never entered. Past `max_watches` directories, deeper ones are
not watched (logged once; a rescan still sees them).

Blocking API (run it in a worker thread): `changes(timeout)` returns the relative paths that
changed in one burst, `{""}` when the kernel queue overflowed (rescan everything), or an empty
set on timeout.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UnsafePathError
from .safe_fs import SafeRoot, split_path

logger = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_CLOEXEC = os.O_CLOEXEC
IN_NONBLOCK = os.O_NONBLOCK

MASK = (
    IN_MODIFY
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")
BURST_QUIET = 0.05  # a burst ends after this long without events...
BURST_MAX = 0.5  # ...or after this long in all (a long checkout is taken in slices)
MAX_WRITING = 4096  # files remembered as open for writing

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


class TreeWatcher:
    def __init__(
        self, root: Path, *, max_watches: int, skip_dir: Callable[[str], bool] | None = None
    ) -> None:
        self._fs = SafeRoot(root)
        self._max = max_watches
        self._skip = skip_dir or (lambda _rel: False)
        self._warned = False
        fd = _libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd = fd
        self._dirs: dict[int, str] = {}  # watch descriptor -> relative directory ("" = root)
        self._writing: set[str] = set()  # modified and not closed since
        self.add_tree("")

    @property
    def watches(self) -> int:
        return len(self._dirs)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- watches --------------------------------------------------------------------------

    def add_tree(self, rel: str) -> None:
        """Watch `rel` and every directory under it, never through a symlink."""
        stack = [rel]
        while stack:
            prefix = stack.pop()
            if prefix and self._skip(prefix):
                continue
            try:
                fd = self._fs.open_dir(prefix)
            except (OSError, UnsafePathError):
                continue  # vanished, or a symlink: not entered
            try:
                if not self._watch(fd, prefix):
                    return
                with os.scandir(fd) as entries:
                    subdirs = [e.name for e in entries if stat.S_ISDIR(e.stat(follow_symlinks=False).st_mode)]
            finally:
                os.close(fd)
            stack += [f"{prefix}/{name}" if prefix else name for name in subdirs]

    def _watch(self, dir_fd: int, rel: str) -> bool:
        if len(self._dirs) >= self._max:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "workspace %s: over %d watched directories: changes under %r and beyond are not seen",
                    self._fs.root,
                    self._max,
                    rel,
                )
            return False
        wd = _libc.inotify_add_watch(self._fd, f"/proc/self/fd/{dir_fd}".encode(), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:  # the host's inotify limit: keep what we have
                logger.warning("workspace %s: the host's inotify watch limit is reached", self._fs.root)
                return False
            logger.warning("workspace %s: not watching %r: %s", self._fs.root, rel, os.strerror(err))
            return True  # this one directory unwatched; a rescan still sees its files
        self._dirs[wd] = rel
        return True

    def _forget_tree(self, rel: str) -> None:
        for wd, path in list(self._dirs.items()):
            if path == rel or path.startswith(rel + "/"):
                del self._dirs[wd]
                _libc.inotify_rm_watch(self._fd, wd)  # EINVAL when already gone: nothing to do

    # -- events ---------------------------------------------------------------------------

    def changes(self, timeout: float) -> set[str]:
        """Paths changed in the next burst of events (waits up to `timeout` for the first)."""
        out: set[str] = set()
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return out
        started = time.monotonic()
        while True:
            self._drain(out)
            # A file modified but not closed yet is mid-write (truncated, half written): wait
            # for its close, within the burst's bound, rather than read a transient state.
            left = BURST_MAX - (time.monotonic() - started)
            if not self._writing:
                left = min(BURST_QUIET, left)
            if left <= 0:
                self._writing.clear()  # held open (a log): the next write names it again
                return out
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready and not self._writing:
                return out

    def _drain(self, out: set[str]) -> None:
        while True:
            try:
                buf = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            pos = 0
            while pos < len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, pos)
                raw = buf[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                self._event(wd, mask, os.fsdecode(raw), out)

    def _event(self, wd: int, mask: int, name: str, out: set[str]) -> None:
        if mask & IN_Q_OVERFLOW:
            logger.warning("workspace %s: inotify queue overflowed: rescanning", self._fs.root)
            out.add("")
            return
        parent = self._dirs.get(wd)
        if mask & IN_IGNORED:
            self._dirs.pop(wd, None)
            return
        if parent is None or not name:
            return  # the directory's own DELETE_SELF/MOVE_SELF: its parent reports the name
        rel = f"{parent}/{name}" if parent else name
        try:
            split_path(rel)
        except UnsafePathError:
            return
        out.add(rel)
        if mask & IN_MODIFY:
            if len(self._writing) < MAX_WRITING:
                self._writing.add(rel)
        elif mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM):
            self._writing.discard(rel)
        if mask & IN_ISDIR:
            if mask & (IN_MOVED_FROM | IN_DELETE):
                self._forget_tree(rel)
            if mask & (IN_CREATE | IN_MOVED_TO):
                self._forget_tree(rel)  # a directory moved back in under an old name
                self.add_tree(rel)

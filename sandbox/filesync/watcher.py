"""`TreeWatcher`: inotify on a workspace tree that never follows a symlink, with a bound on watches.

A general-purpose recursive watcher (watchfiles/notify) walks into symlinked directories: a
link to `/usr` planted in the workspace registered 16,297 watches, one to `/` would exhaust
the host's limit. Here every directory is opened from the root one component at a time with
`O_NOFOLLOW` (the `SafeRoot` walk) and watched through its open fd (`/proc/self/fd/N` names
exactly the directory that was opened, even if the path is swapped meanwhile); a symlink is
reported as a changed path, never entered. Past `max_watches` directories, deeper ones are
not watched (logged once; a rescan still sees them). All watchers of the process share one
inotify instance (the kernel allows 128 per user by default, and a node holds many rooms).

Blocking API (run it in a worker thread): `changes(timeout)` returns the relative paths that
changed in one burst, `{""}` when the kernel queue overflowed (rescan everything), or an empty
set on timeout. `wait_for_events()` waits on the event loop, without a thread, until there is an
event to take: a node holds hundreds of idle rooms, and a watcher polling from a worker thread
held one of anyio's 40 threads per room (room loads queued behind them, and each poll woke the
process four times a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import queue
import select
import stat
import struct
import threading
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


class _Inotify:
    """One inotify instance for the whole process (the kernel allows 128 per user by default;
    a node holds many rooms), read by one daemon thread that hands each event to the watcher
    owning its watch descriptor. Created on first use and kept for the process's life."""

    _shared: _Inotify | None = None
    _create_lock = threading.Lock()

    @classmethod
    def shared(cls) -> _Inotify:
        with cls._create_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __init__(self) -> None:
        fd = _libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self.lock = threading.Lock()
        self.owners: dict[int, set[TreeWatcher]] = {}  # watch descriptor -> its watchers
        threading.Thread(target=self._run, name="tandem-inotify", daemon=True).start()

    def add(self, path: bytes, watcher: TreeWatcher) -> int:
        """A watch for `watcher` (errno negated on failure). Under the lock, so no event of the
        new descriptor is read before its owner is known."""
        with self.lock:
            wd = _libc.inotify_add_watch(self.fd, path, MASK)
            if wd < 0:
                return -ctypes.get_errno()
            self.owners.setdefault(wd, set()).add(watcher)
            return int(wd)

    def remove(self, wd: int, watcher: TreeWatcher) -> None:
        with self.lock:
            owners = self.owners.get(wd)
            if owners is None:
                return
            owners.discard(watcher)
            if not owners:
                del self.owners[wd]
                _libc.inotify_rm_watch(self.fd, wd)  # EINVAL when already gone: nothing to do

    def _run(self) -> None:
        while True:
            select.select([self.fd], [], [])
            try:
                buf = os.read(self.fd, 256 * 1024)
            except BlockingIOError:
                continue
            # In a method of its own: its locals (the last watcher posted to) die with each
            # batch, so this thread never keeps a closed watcher — and its sync and doc — alive.
            self._dispatch(buf)

    def _dispatch(self, buf: bytes) -> None:
        pos = 0
        with self.lock:
            while pos < len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, pos)
                raw = buf[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    targets = set().union(*self.owners.values()) if self.owners else set()
                else:
                    targets = self.owners.get(wd, set())
                    if mask & IN_IGNORED:
                        self.owners.pop(wd, None)
                for watcher in targets:
                    watcher.post((wd, mask, os.fsdecode(raw)))


class TreeWatcher:
    def __init__(
        self, root: Path, *, max_watches: int, skip_dir: Callable[[str], bool] | None = None
    ) -> None:
        self._fs = SafeRoot(root)
        self._max = max_watches
        self._skip = skip_dir or (lambda _rel: False)
        self._warned = False
        self._hub = _Inotify.shared()
        self._events: queue.SimpleQueue[tuple[int, int, str]] = queue.SimpleQueue()
        self._dirs: dict[int, str] = {}  # watch descriptor -> relative directory ("" = root)
        self._writing: set[str] = set()  # modified and not closed since
        self._closed = False
        # Set by `wait_for_events` (on the loop); the inotify thread wakes it on the next event.
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.add_tree("")

    @property
    def watches(self) -> int:
        return len(self._dirs)

    def post(self, event: tuple[int, int, str]) -> None:
        """From the inotify thread: one event of a watch of ours."""
        if not self._closed:
            self._events.put(event)
            waiter = self._waiter
            if waiter is not None and not waiter[1].is_set():
                loop, ready = waiter
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                    loop.call_soon_threadsafe(ready.set)

    async def wait_for_events(self) -> None:
        """Return once an event is waiting for `changes` (at once if one already is)."""
        if self._waiter is None:
            self._waiter = (asyncio.get_running_loop(), asyncio.Event())
        ready = self._waiter[1]
        ready.clear()  # before the check: an event posted from here on sets it again
        if self._events.empty():
            await ready.wait()

    def close(self) -> None:
        self._closed = True
        for wd in list(self._dirs):
            self._hub.remove(wd, self)
        self._dirs.clear()

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
        wd = self._hub.add(f"/proc/self/fd/{dir_fd}".encode(), self)
        if wd < 0:
            if -wd == errno.ENOSPC:  # the host's inotify limit: keep what we have
                logger.warning("workspace %s: the host's inotify watch limit is reached", self._fs.root)
                return False
            logger.warning("workspace %s: not watching %r: %s", self._fs.root, rel, os.strerror(-wd))
            return True  # this one directory unwatched; a rescan still sees its files
        self._dirs[wd] = rel
        return True

    def _forget_tree(self, rel: str) -> None:
        for wd, path in list(self._dirs.items()):
            if path == rel or path.startswith(rel + "/"):
                del self._dirs[wd]
                self._hub.remove(wd, self)

    # -- events ---------------------------------------------------------------------------

    def changes(self, timeout: float) -> set[str]:
        """Paths changed in the next burst of events (waits up to `timeout` for the first)."""
        out: set[str] = set()
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return out
        started = time.monotonic()
        while True:
            self._event(*event, out)
            # A file modified but not closed yet is mid-write (truncated, half written): wait
            # for its close, within the burst's bound, rather than read a transient state.
            left = BURST_MAX - (time.monotonic() - started)
            if not self._writing:
                left = min(BURST_QUIET, left)
            if left <= 0:
                self._writing.clear()  # held open (a log): the next write names it again
                return out
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                if not self._writing:
                    return out
                event = (0, 0, "")  # the burst's bound is checked again

    def _event(self, wd: int, mask: int, name: str, out: set[str]) -> None:
        if mask & IN_Q_OVERFLOW:
            logger.warning("workspace %s: inotify queue overflowed: rescanning", self._fs.root)
            out.add("")
            return
        if not mask:
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

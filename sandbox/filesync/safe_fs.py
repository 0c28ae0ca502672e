"""File operations confined beneath a workspace root that never follow a symlink.

The workspace is writable from inside the container, so anything in it may be a planted
symlink (`ln -s /etc/shadow x`). Every operation walks from an fd of the root, one
component at a time with `O_NOFOLLOW`, and acts through `dir_fd`: a symlink anywhere on the
path is refused instead of followed, and `..` never appears.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsafePathError

MAX_PATH_CHARS = 1024
MAX_DEPTH = 32
TEMP_PREFIX = ".tandem-"
TEMP_SUFFIX = ".tmp"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a planted FIFO must not hang the reader; it fails the S_ISREG check instead.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def split_path(rel: str) -> tuple[str, ...]:
    """`src/app.py` -> ("src", "app.py"); refuses absolute paths, `..`, empty parts and NUL."""
    if not rel or len(rel) > MAX_PATH_CHARS or "\0" in rel or rel.startswith("/") or "\\" in rel:
        raise UnsafePathError(f"bad workspace path {rel[:80]!r}")
    parts = tuple(rel.split("/"))
    if len(parts) > MAX_DEPTH or any(p in ("", ".", "..") for p in parts):
        raise UnsafePathError(f"bad workspace path {rel[:80]!r}")
    return parts


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A regular file's bytes, or why there are none: `missing`, `too_large`, `directory`,
    or `not_regular` (a symlink, FIFO, socket or device: never read through)."""

    data: bytes | None
    size: int = 0
    problem: str | None = None


class SafeRoot:
    """A workspace directory; every method is blocking (call through `anyio.to_thread`)."""

    def __init__(self, root: Path, *, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self._owner = owner  # files and directories created are given to the sandbox user

    def _open_root(self) -> int:
        return os.open(self.root, _DIR_FLAGS)

    def open_dir(self, rel: str) -> int:
        """An fd of the directory `rel` ("" = the root), opened without following any link."""
        return self._open_root() if not rel else self._open_parent((*split_path(rel), "."), create=False)

    def _open_parent(self, parts: tuple[str, ...], *, create: bool) -> int:
        fd = self._open_root()
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    if self._owner is not None and os.geteuid() == 0:
                        os.chown(part, *self._owner, dir_fd=fd, follow_symlinks=False)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafePathError(f"{part!r} in {'/'.join(parts)!r} is not a directory") from exc
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def make_dirs(self, rel: str) -> None:
        """Create the folder `rel` and its parents (no-op when they exist), never through a symlink."""
        os.close(self._open_parent((*split_path(rel), "."), create=True))

    def read(self, rel: str, max_bytes: int) -> ReadResult:
        parts = split_path(rel)
        try:
            parent = self._open_parent(parts, create=False)
        except (FileNotFoundError, UnsafePathError):
            return ReadResult(None, problem="missing")
        try:
            try:
                fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                return ReadResult(None, problem="missing")
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENXIO):
                    return ReadResult(None, problem="not_regular")
                raise
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    return ReadResult(None, problem="directory")
                if not stat.S_ISREG(st.st_mode):
                    return ReadResult(None, problem="not_regular")
                if st.st_size > max_bytes:
                    return ReadResult(None, st.st_size, problem="too_large")
                chunks, total = [], 0
                while total <= max_bytes:
                    chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    total += len(chunk)
                if total > max_bytes:  # grew while we read
                    return ReadResult(None, total, problem="too_large")
                return ReadResult(b"".join(chunks), total)
            finally:
                os.close(fd)
        finally:
            os.close(parent)

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write a temp file beside the target, then rename over it: readers see old or new."""
        parts = split_path(rel)
        parent = self._open_parent(parts, create=True)
        tmp = f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o644, dir_fd=parent)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self._owner is not None and os.geteuid() == 0:
                    os.fchown(fd, *self._owner)
            finally:
                os.close(fd)
            try:
                # rename(2) replaces a symlink at the target itself; it never writes through it.
                os.replace(tmp, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except OSError:
                os.unlink(tmp, dir_fd=parent)
                raise
        finally:
            os.close(parent)

    def delete(self, rel: str) -> None:
        parts = split_path(rel)
        try:
            parent = self._open_parent(parts, create=False)
        except (FileNotFoundError, UnsafePathError):
            return
        try:
            os.unlink(parts[-1], dir_fd=parent)  # unlink(2) removes a symlink, never its target
        except FileNotFoundError:
            pass
        except IsADirectoryError as exc:
            raise UnsafePathError(f"{rel!r} is a directory") from exc
        finally:
            os.close(parent)

    def walk(
        self, max_files: int, skip_dir: Callable[[str], bool] | None = None
    ) -> Iterator[tuple[str, int]]:
        """(relative path, size) of regular files, never entering a symlinked directory.

        `skip_dir(rel)` prunes ignored directories before they are listed.
        """
        count = 0
        stack = [""]
        while stack:
            prefix = stack.pop()
            try:
                fd = self.open_dir(prefix)
            except (OSError, UnsafePathError):
                continue  # vanished, or replaced by a symlink meanwhile: not followed
            try:
                with os.scandir(fd) as entries:
                    listing = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
            finally:
                os.close(fd)
            for name, st in sorted(listing):
                rel = f"{prefix}/{name}" if prefix else name
                if stat.S_ISDIR(st.st_mode):
                    if skip_dir is None or not skip_dir(rel):
                        stack.append(rel)
                elif stat.S_ISREG(st.st_mode) and not is_temp_name(name):
                    yield rel, st.st_size
                    count += 1
                    if count >= max_files:
                        return

"""Host-side preparation of a session's workspace before it is bind-mounted.

The workspace is writable by the container, so everything in it is hostile to the host: a
process in the sandbox can swap any directory for a symlink to a host path at any moment
(`renameat2(RENAME_EXCHANGE)` in a loop). A walk by path (`os.walk` + `lchown(path)`) resolves
every intermediate component again and follows such a link out of the workspace.

Why an fd-relative walk and not a user-namespace remap: Docker's `userns-remap` is a daemon-wide
setting (it changes every container and the image store of the engine, which Tandem does not
own), so per-session ownership would still need fixing on engines without it. Instead this walk
never resolves a path: it opens each directory relative to its parent's fd with
`O_NOFOLLOW | O_DIRECTORY` (a link swapped in fails with ELOOP/ENOTDIR and is skipped), and
changes non-directories with `fchownat(AT_SYMLINK_NOFOLLOW)` relative to the same fd, so a link
swapped in at the last moment only has the link itself changed. The caller also stops the
session's container first (`DockerSandbox.ensure_container`), so nothing races the walk at all;
the fd discipline is what holds if that ever fails.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .types import SandboxSpec

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# Deeper trees are left as they are (and logged): the walk holds one fd per level.
MAX_DEPTH = 256
WORKSPACE_MODE = 0o700  # the container user owns it; nobody else on the host may read it


def prepare_workspace(workspace: Path, spec: SandboxSpec) -> None:
    """Create the workspace (0700) and, when allowed and running as root, give it to the sandbox user.

    The container runs as `spec.uid`, so files the host wrote as root would be read-only
    inside the terminal; chowning only what differs keeps repeated calls cheap.
    """
    workspace.parent.mkdir(parents=True, exist_ok=True, mode=WORKSPACE_MODE)
    if workspace.parent.stat().st_mode & 0o077 and workspace.parent.stat().st_uid == os.geteuid():
        os.chmod(workspace.parent, WORKSPACE_MODE)  # the host's list of workspaces: owner-only too
    workspace.mkdir(exist_ok=True, mode=WORKSPACE_MODE)
    if not spec.chown_workspace:
        return
    if os.geteuid() != 0:
        if workspace.stat().st_uid != spec.uid:
            logger.info("not root: leaving %s owned by uid %d", workspace, workspace.stat().st_uid)
        return
    changed = chown_tree(workspace, spec.uid, spec.gid)
    if changed:
        logger.info("gave %d entries of %s to %d:%d", changed, workspace, spec.uid, spec.gid)


def chown_tree(root: Path, uid: int, gid: int, *, max_depth: int = MAX_DEPTH) -> int:
    """Give everything under `root` (and `root`, made 0700) to uid:gid without following a link.

    Returns how many entries changed. `root`'s own parents are trusted (host-owned); its last
    component must be a real directory (`SymlinkError`-like `OSError` otherwise).
    """
    changed = 0
    root_fd = os.open(root, _DIR_FLAGS)
    stack: list[tuple[int, Iterator[str]]] = []
    try:
        st = os.fstat(root_fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(root_fd, uid, gid)
            changed += 1
        if stat.S_IMODE(st.st_mode) != WORKSPACE_MODE:
            os.fchmod(root_fd, WORKSPACE_MODE)
        stack.append((root_fd, iter(os.listdir(root_fd))))
        while stack:
            dir_fd, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if dir_fd != root_fd:
                    os.close(dir_fd)
                continue
            child = _visit(dir_fd, name, uid, gid, descend=len(stack) < max_depth)
            if child is None:
                continue
            child_fd, did_change = child
            changed += did_change
            if child_fd is not None:
                try:
                    stack.append((child_fd, iter(os.listdir(child_fd))))
                except OSError as exc:
                    os.close(child_fd)
                    logger.warning("workspace %s: cannot list %r: %s", root, name, exc)
    finally:
        for dir_fd, _ in stack:
            if dir_fd != root_fd:
                os.close(dir_fd)
        os.close(root_fd)
    return changed


def _visit(dir_fd: int, name: str, uid: int, gid: int, *, descend: bool) -> tuple[int | None, int] | None:
    """Fix one entry of `dir_fd`; return (its fd when it is a directory to descend, changed)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None  # gone meanwhile
    if stat.S_ISDIR(st.st_mode):
        if not descend:
            logger.warning("workspace directory %r is deeper than %d levels: left as is", name, MAX_DEPTH)
            return None
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            # ELOOP/ENOTDIR: swapped for a link or a file since the stat; never followed.
            logger.warning("workspace entry %r changed under the walk (%s): skipped", name, exc.strerror)
            return None
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) == (uid, gid):
            return fd, 0
        os.fchown(fd, uid, gid)
        return fd, 1
    if (st.st_uid, st.st_gid) == (uid, gid):
        return None
    try:
        # AT_SYMLINK_NOFOLLOW: a link (planted or swapped in) has only itself changed.
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return None, 1

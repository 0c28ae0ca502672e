"""A hard disk quota per session: the workspace is an ext4 file system of its own.

Each session's workspace directory is the mount point of a sparse image file
(`workspaces/.images/{name}.img`, the quota's size) mounted `loop,nosuid,nodev,discard`.
A write past the quota fails with ENOSPC inside the container, and the host's disk holds at most
the quota for that session (blocks freed in the workspace are punched out of the image again).

Why a loop-mounted image and not the alternatives:
- ext4/xfs project quotas need the host file system mounted with `prjquota` (the data directory
  usually sits on `/`, which is not) — an install-time change Tandem cannot make.
- Docker's `--storage-opt size=` limits the container's writable layer only, and only on
  overlay2 over xfs+pquota; the bind-mounted workspace is untouched by it.
- A tmpfs with `size=` is a quota, but in memory and gone at every stop.
A loop device needs root (as does chowning the workspace): without it, `auto` logs that the quota
is off and the workspace is a plain directory, `loop` refuses to start the sandbox.

Lifecycle (`DockerSandbox`): mounted before the container starts, unmounted after it stops; an
image is never mounted twice (a mount left by a crashed run is reused, a busy unmount is left
mounted and logged rather than made lazy, which could let a second mount of the same image run
beside the first).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from .errors import QuotaError

logger = logging.getLogger(__name__)

QuotaMode = Literal["auto", "loop", "off"]
MIN_QUOTA_BYTES = 16 * 1024 * 1024
_TOOLS = ("mount", "umount", "mkfs.ext4")
_MOUNT_OPTIONS = "loop,nosuid,nodev,noatime,discard"
_TIMEOUT = 120.0


class WorkspaceQuota:
    """Mounts and unmounts sessions' quota images; `enabled` is False when the quota is off."""

    def __init__(self, mode: QuotaMode, size_bytes: int, uid: int, gid: int) -> None:
        self.size_bytes = size_bytes
        self._uid, self._gid = uid, gid
        self.enabled = False
        self.reason = ""
        if mode == "off":
            self.reason = "workspace quota is off (setting)"
            return
        if size_bytes < MIN_QUOTA_BYTES:
            raise QuotaError(f"a workspace quota is at least {MIN_QUOTA_BYTES} bytes")
        missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
        if os.geteuid() != 0 or missing:
            self.reason = "needs root" if os.geteuid() != 0 else f"needs {', '.join(missing)}"
            if mode == "loop":
                raise QuotaError(f"the loop-mounted workspace quota {self.reason}")
            logger.warning("workspace quota is OFF: it %s (terminals may fill the host disk)", self.reason)
            return
        self.enabled = True

    @staticmethod
    def image_of(workspace: Path) -> Path:
        # Workspace names never start with "." (backend.terminals.paths), so no session owns it.
        return workspace.parent / ".images" / f"{workspace.name}.img"

    def mount(self, workspace: Path) -> None:
        """Make `workspace` the mount of its image (creating the image); idempotent."""
        if not self.enabled or os.path.ismount(workspace):
            return
        image = self.image_of(workspace)
        image.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        workspace.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = False
        if not image.exists():
            if any(workspace.iterdir()):
                self._create(image, workspace)
            else:  # a new session's: nothing to copy in, so no staging mount (half the time)
                os.replace(self._format(image), image)
                fresh = True
        elif any(workspace.iterdir()):
            # Files put in the bare directory while it was not mounted (an operator copying a
            # project in between two loads of the room): moved into the image, so the mount
            # never hides them; they are the newer copies.
            self._copy_in(image, workspace)
        _run(["mount", "-t", "ext4", "-o", _MOUNT_OPTIONS, str(image), str(workspace)])
        if fresh:
            os.rmdir(workspace / "lost+found")  # nothing else uses the workspace yet
        logger.info("workspace %s mounted from %s (quota %d MiB)", workspace, image, self.size_bytes >> 20)

    def unmount(self, workspace: Path) -> None:
        """Unmount `workspace` if it is mounted; a busy mount stays (logged) and is reused later."""
        if not self.enabled or not os.path.ismount(workspace):
            return
        try:
            _run(["umount", str(workspace)])
        except QuotaError as exc:
            logger.warning("workspace %s stays mounted: %s", workspace, exc)

    def discard(self, workspace: Path) -> None:
        """The session is deleted: unmount and delete its image."""
        self.unmount(workspace)
        if os.path.ismount(workspace):
            raise QuotaError(f"workspace {workspace} is busy; its image is kept")
        self.image_of(workspace).unlink(missing_ok=True)

    def _format(self, image: Path) -> Path:
        """A fresh sparse image owned by the sandbox user, under a temporary name (a crash never
        leaves half of one where the image belongs); returns that name."""
        partial = image.with_name(image.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, self.size_bytes)
        finally:
            os.close(fd)
        extended = f"root_owner={self._uid}:{self._gid},lazy_itable_init=1,lazy_journal_init=1"
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", extended, str(partial)])
        return partial

    def _create(self, image: Path, workspace: Path) -> None:
        """A fresh image with the files already in a plain (pre-quota) workspace copied in
        (links as links, never followed: the container is stopped)."""
        partial = self._format(image)
        with tempfile.TemporaryDirectory(dir=image.parent) as staging:
            _run(["mount", "-t", "ext4", "-o", _MOUNT_OPTIONS, str(partial), staging])
            try:
                os.rmdir(os.path.join(staging, "lost+found"))  # root-only clutter in the user's tree
                if any(workspace.iterdir()):
                    logger.info("copying the existing files of %s into its new quota image", workspace)
                    _run(["cp", "-a", "--no-dereference", f"{workspace}/.", staging])
                    _clear(workspace)
            finally:
                _run(["umount", staging])
        os.replace(partial, image)

    def _copy_in(self, image: Path, workspace: Path) -> None:
        """Move the bare directory's files into an existing image (links as links, never
        followed; nothing runs in the workspace: it is not mounted, so no container uses it)."""
        logger.info("moving files put in %s while it was not mounted into its quota image", workspace)
        with tempfile.TemporaryDirectory(dir=image.parent) as staging:
            _run(["mount", "-t", "ext4", "-o", _MOUNT_OPTIONS, str(image), staging])
            try:
                _run(["cp", "-a", "--no-dereference", f"{workspace}/.", staging])
                _clear(workspace)
            finally:
                _run(["umount", staging])


def _clear(directory: Path) -> None:
    """Empty a plain directory (rmtree unlinks links, never follows them)."""
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _run(argv: list[str]) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QuotaError(f"{argv[0]} failed: {exc}") from exc
    if result.returncode != 0:
        raise QuotaError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[:300]}")

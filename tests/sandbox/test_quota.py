"""`WorkspaceQuota` on its own (real loop mounts, no container): the size holds, an image is
never mounted twice, a plain workspace's files (links as links) move into a new image, and
discarding removes the image."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sandbox.errors import QuotaError
from sandbox.quota import WorkspaceQuota

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root (CI runs as root)")

MiB = 1024 * 1024


def _mounts_of(path: Path) -> int:
    with open("/proc/self/mounts") as mounts:
        return sum(1 for line in mounts if line.split()[1] == str(path))


def test_the_quota_holds_and_an_image_is_mounted_once(tmp_path: Path) -> None:
    quota = WorkspaceQuota("loop", 32 * MiB, 1000, 1000)
    workspace = tmp_path / "workspaces" / "s"
    try:
        quota.mount(workspace)
        quota.mount(workspace)  # idempotent: a crash's leftover mount is reused, never doubled
        assert _mounts_of(workspace) == 1
        assert workspace.stat().st_uid == 1000 and not (workspace / "lost+found").exists()
        with pytest.raises(OSError) as err, open(workspace / "big", "wb") as fh:
            for _ in range(64):
                fh.write(b"\0" * MiB)
                fh.flush()
                os.fsync(fh.fileno())
        assert err.value.errno == errno.ENOSPC
        assert (workspace / "big").stat().st_size <= 32 * MiB
        image = WorkspaceQuota.image_of(workspace)
        assert image.stat().st_blocks * 512 <= 32 * MiB and oct(image.stat().st_mode & 0o777) == "0o600"
    finally:
        quota.unmount(workspace)
    assert _mounts_of(workspace) == 0
    quota.discard(workspace)
    assert not WorkspaceQuota.image_of(workspace).exists()


def test_a_plain_workspace_moves_into_its_new_image(tmp_path: Path) -> None:
    quota = WorkspaceQuota("loop", 32 * MiB, 1000, 1000)
    workspace = tmp_path / "workspaces" / "s"
    (workspace / "d").mkdir(parents=True)
    (workspace / "d" / "f").write_text("before")
    (workspace / "link").symlink_to("/etc/shadow")
    try:
        quota.mount(workspace)
        assert (workspace / "d" / "f").read_text() == "before"
        assert os.readlink(workspace / "link") == "/etc/shadow"  # copied as a link, not followed
    finally:
        quota.unmount(workspace)
    assert list(workspace.iterdir()) == []  # the bare mount point holds nothing on the host disk
    quota.discard(workspace)


def test_off_and_too_small() -> None:
    assert not WorkspaceQuota("off", 1, 1000, 1000).enabled
    with pytest.raises(QuotaError):
        WorkspaceQuota("loop", MiB, 1000, 1000)

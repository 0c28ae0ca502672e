"""`chown_tree` against a live symlink-swap race (real processes, no container needed): a
directory of the workspace is exchanged with a link to a root-only host directory thousands of
times a second while the walk runs, and the host directory keeps its owner and mode."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox.workspace import chown_tree
from tests.swapper import build_swapper, make_secret, plant_pairs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root (CI runs as root)")


def test_the_walk_never_follows_a_link_swapped_in_under_it(tmp_path: Path) -> None:
    swap = build_swapper(tmp_path)
    secret, key = make_secret(tmp_path)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    args = plant_pairs(workspace, secret, pairs=8)
    racer = subprocess.Popen([str(swap), *args], cwd=workspace)
    try:
        for _ in range(300):
            chown_tree(workspace, 1000, 1000)
            # Reset what the walk legitimately changed, so every round walks everything again.
            os.chown(workspace, 0, 0)
    finally:
        racer.kill()
        racer.wait()
    assert (secret.stat().st_uid, secret.stat().st_gid) == (0, 0)
    assert (key.stat().st_uid, key.stat().st_gid) == (0, 0)
    assert oct(secret.stat().st_mode & 0o777) == "0o700"
    # The walk did its job inside: every real directory and file is the sandbox user's now.
    chown_tree(workspace, 1000, 1000)
    for i in range(8):
        sub = next(p for p in (workspace / f"d{i}", workspace / f"l{i}") if not p.is_symlink())
        assert sub.stat().st_uid == 1000 and (sub / "sub" / "f").stat().st_uid == 1000


def test_the_root_must_be_a_real_directory(tmp_path: Path) -> None:
    secret, _ = make_secret(tmp_path)
    link = tmp_path / "ws"
    link.symlink_to(secret)
    with pytest.raises(OSError):
        chown_tree(link, 1000, 1000)
    assert secret.stat().st_uid == 0

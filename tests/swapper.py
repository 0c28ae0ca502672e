"""A tiny static C program that swaps pairs of directory entries with `renameat2(RENAME_EXCHANGE)`
as fast as it can: the symlink race a hostile sandbox process runs against host-side walks.

Static, so it runs both on the host and in the busybox test image. `swap A1 B1 [A2 B2 ...]`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
int main(int argc, char **argv) {
    for (;;)
        for (int i = 1; i + 1 < argc; i += 2)
            syscall(SYS_renameat2, AT_FDCWD, argv[i], AT_FDCWD, argv[i + 1], RENAME_EXCHANGE);
}
"""


def build_swapper(directory: Path) -> Path:
    """Compile the swapper into `directory` (gcc -static) and return its path."""
    src = directory / "swap.c"
    out = directory / "swap"
    src.write_text(SOURCE)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)], check=True, timeout=120)
    return out


def make_secret(directory: Path) -> tuple[Path, Path]:
    """A root-only host directory (0700) with a 0600 file: what the race tries to give away."""
    secret = directory / "secret"
    secret.mkdir(mode=0o700)
    key = secret / "key"
    key.write_text("host only\n")
    key.chmod(0o600)
    return secret, key


def plant_pairs(workspace: Path, target: Path, pairs: int) -> list[str]:
    """`d{i}/` (with a file) beside `l{i}` -> `target`; returns the swapper's arguments."""
    args: list[str] = []
    for i in range(pairs):
        d = workspace / f"d{i}"
        (d / "sub").mkdir(parents=True, exist_ok=True)
        (d / "sub" / "f").write_text("x")
        (workspace / f"l{i}").symlink_to(target)
        args += [f"d{i}", f"l{i}"]
    return args

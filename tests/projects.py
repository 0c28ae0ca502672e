"""A real project for file-sync tests and `bench.real_project`: packages copied from this
environment's own site-packages (~1,200 files, 11-15 MB of text; `LARGE_PACKAGES`: ~1,600 files,
~25 MB, past the 16 MiB frame limit), and its text files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
PACKAGES = [
    "pip",
    "setuptools",
    "pydantic",
    "_pytest",
    "rich",
    "fastapi",
    "anyio",
    "starlette",
    "typer",
    "click",
]


# Past the frame limit as a whole doc, like the 24.4 MB project (#18 finding 5).
LARGE_PACKAGES = [*PACKAGES, "sqlalchemy", "redis"]


def copy_packages(root: Path, packages: list[str] = PACKAGES) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in packages:
        shutil.copytree(SITE / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))


def text_files(root: Path, max_bytes: int) -> tuple[dict[str, bytes], int]:
    """(the UTF-8 files of at most `max_bytes` without NULs, path -> bytes; all regular files
    counted), never through a symlink."""
    texts: dict[str, bytes] = {}
    count = 0
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        count += 1
        data = path.read_bytes()
        if len(data) <= max_bytes and b"\0" not in data[:8192]:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            texts[path.relative_to(root).as_posix()] = data
    return texts, count

"""Building the missing sandbox image from a running server: once per install, with progress.

Several processes may share one data directory (a restart overlapping the old process, a second
`tandem serve`, the CLI): an `flock` on `{data}/sandbox/build.lock` lets one build while the others
wait for the image to appear. The debootstrap result is cached under `{data}/sandbox/cache`, so a
rebuild (a pruned image, another engine) takes seconds instead of minutes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

from backend.settings import Settings
from sandbox.images import build_default_image_async, build_test_image_async
from sandbox.rootfs import Progress

log = logging.getLogger("tandem.sandbox")


def sandbox_dir(settings: Settings) -> Path:
    return settings.data / "sandbox"


def cache_dir(settings: Settings) -> Path:
    return sandbox_dir(settings) / "cache"


class BuildLock:
    """A non-blocking `flock`: held by at most one process per data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def build_lock(settings: Settings) -> BuildLock:
    return BuildLock(sandbox_dir(settings) / "build.lock")


async def build_image(settings: Settings, progress: Progress) -> None:
    """Build `settings.sandbox_image` with the builder `sandbox_build_kind` names (if still missing)."""
    tag = settings.sandbox_image
    log.info("building the sandbox image %s (%s)", tag, settings.sandbox_build_kind)
    if settings.sandbox_build_kind == "test":
        await build_test_image_async(tag, if_missing=True, progress=progress)
    else:
        await build_default_image_async(
            tag, if_missing=True, cache_dir=cache_dir(settings), progress=progress
        )


def progress_file(settings: Settings) -> Path:
    return sandbox_dir(settings) / "build-progress.json"


def share_progress(settings: Settings, fraction: float | None, line: str) -> None:
    """A build's progress for the other processes on this data directory (the CLI's build)."""
    path = progress_file(settings)
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"progress": fraction, "log": line[-300:]}))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


def shared_progress(settings: Settings) -> tuple[float | None, str | None]:
    """The progress another process shares (`share_progress`), or nothing."""
    try:
        record = json.loads(progress_file(settings).read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", progress_file(settings), exc)
        return None, None
    fraction = record.get("progress")
    line = record.get("log")
    return (float(fraction) if isinstance(fraction, int | float) else None), (str(line) if line else None)


def engine_install_line(settings: Settings) -> str | None:
    """The last line `scripts/serve.sh` wrote while installing or starting an engine, if it is."""
    path = sandbox_dir(settings) / "engine-install.log"
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return lines[-1] if lines else "installing the Docker engine"

"""Root filesystems for sandbox images, made without any registry.

- `write_busybox_rootfs`: a few MiB from Debian's `busybox-static` (the test image).
- `debootstrap_rootfs`: a Debian minbase with bash, python3 and git (the default image).

Both add the unprivileged sandbox user (uid/gid 1000 by default) and the mount points
the container expects (/workspace, /home/user, /tmp).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import ImageBuildError

logger = logging.getLogger(__name__)

BUSYBOX = Path("/bin/busybox")

# A build's progress: the fraction done (None: unknown) and the latest log line.
Progress = Callable[[float | None, str], None]

# debootstrap's stages ("I: <stage> ...") and the fraction of the whole image build each starts at.
_STAGES: tuple[tuple[str, float], ...] = (
    ("Retrieving InRelease", 0.01),
    ("Retrieving Packages", 0.03),
    ("Resolving dependencies", 0.05),
    ("Checking component", 0.06),
    ("Retrieving ", 0.08),
    ("Validating ", 0.08),
    ("Extracting ", 0.35),
    ("Installing core packages", 0.45),
    ("Unpacking required packages", 0.5),
    ("Configuring required packages", 0.6),
    ("Unpacking the base system", 0.68),
    ("Configuring the base system", 0.75),
    ("Base system installed successfully", 0.84),
)
DEFAULT_PACKAGES: tuple[str, ...] = (
    "bash",
    "coreutils",
    "python3",
    "git",
    "ca-certificates",
    "procps",
    "less",
)


def _passwd(uid: int, gid: int, shell: str) -> tuple[bytes, bytes]:
    passwd = f"root:x:0:0:root:/root:{shell}\nuser:x:{uid}:{gid}:user:/home/user:{shell}\n"
    group = f"root:x:0:\nuser:x:{gid}:\n"
    return passwd.encode(), group.encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid, info.gid = uid, gid
    tar.addfile(info)


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    """Paths (relative to /) of every applet this busybox provides, e.g. `bin/sh`."""
    try:
        out = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ImageBuildError(
            f"{busybox} is missing or not runnable (apt-get install busybox-static): {exc}"
        ) from exc
    return [line.strip() for line in out.splitlines() if line.strip()]


def write_busybox_rootfs(
    dest: BinaryIO, *, busybox: Path = BUSYBOX, uid: int = 1000, gid: int = 1000
) -> None:
    """Write a tar of a busybox root filesystem to `dest`."""
    applets = busybox_applets(busybox)
    with tarfile.open(fileobj=dest, mode="w") as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys"):
            _add_dir(tar, d, 0o700 if d == "root" else 0o755)
        for d in ("dev", "home", "run", "var", "var/tmp"):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        _add_dir(tar, "home/user", 0o755, uid, gid)
        _add_dir(tar, "workspace", 0o755, uid, gid)
        info = tar.gettarinfo(str(busybox), arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with busybox.open("rb") as f:
            tar.addfile(info, f)
        for applet in applets:
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            link.mode = 0o777
            tar.addfile(link)
        passwd, group = _passwd(uid, gid, "/bin/sh")
        _add_bytes(tar, "etc/passwd", passwd)
        _add_bytes(tar, "etc/group", group)
        _add_bytes(tar, "etc/hostname", b"tandem\n")


def debootstrap_rootfs(
    root: Path,
    *,
    suite: str,
    mirror: str,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    uid: int = 1000,
    gid: int = 1000,
    progress: Progress | None = None,
) -> None:
    """Populate `root` with a Debian minbase (needs root and `debootstrap`); report each line."""
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root")
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        suite,
        str(root),
        mirror,
    ]
    logger.info("running %s", " ".join(argv))
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    returncode, tail = _run_streaming(argv, env, progress)
    if returncode != 0:
        raise ImageBuildError(f"debootstrap failed ({returncode}):\n{tail}")
    # Trim what a sandbox never needs: apt caches and the package lists.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(root / junk, ignore_errors=True)
    etc = root / "etc"
    with (etc / "passwd").open("a") as f:
        f.write(f"user:x:{uid}:{gid}:user:/home/user:/bin/bash\n")
    with (etc / "group").open("a") as f:
        f.write(f"user:x:{gid}:\n")
    (etc / "hostname").write_text("tandem\n")
    for d in ("workspace", "home/user"):
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chown(root / d, uid, gid)


def stage_fraction(line: str, current: float) -> float:
    """Where a debootstrap log line puts the build (never backwards)."""
    text = line.removeprefix("I: ")
    for prefix, start in _STAGES:
        if text.startswith(prefix):
            # Per-package lines within a stage creep forward a little each.
            return max(current, start) if start > current else min(current + 0.002, 0.84)
    return current


# Builds running in worker threads, so a server shutting down can stop them (a thread cannot be
# cancelled; its child process can): see `stop_running_builds`.
_running: set[subprocess.Popen[str]] = set()


def stop_running_builds() -> int:
    """Terminate every build subprocess this process started (its whole process group, so
    debootstrap's dpkg children go too); the threads reading them then end. How many were stopped."""
    stopped = 0
    for proc in list(_running):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                stopped += 1
            except ProcessLookupError:
                pass
    return stopped


def _run_streaming(argv: list[str], env: dict[str, str], progress: Progress | None) -> tuple[int, str]:
    """Run `argv`, passing each output line to `progress`; (exit code, the last 2000 characters)."""
    lines: list[str] = []
    fraction = 0.0
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        bufsize=1,
        start_new_session=True,  # its own process group: `stop_running_builds` stops all of it
    ) as proc:
        _running.add(proc)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip()
                if not line:
                    continue
                lines.append(line)
                del lines[:-60]
                fraction = stage_fraction(line, fraction)
                if progress is not None:
                    progress(fraction, line)
        finally:
            _running.discard(proc)
    return proc.returncode, "\n".join(lines)[-2000:]


def tar_directory(root: Path, dest: BinaryIO) -> None:
    """Tar `root`'s contents (numeric owners, symlinks kept) into `dest`."""
    with tarfile.open(fileobj=dest, mode="w") as tar:
        for entry in sorted(root.iterdir()):
            # Kernel file systems are mounted by the runtime; keep just their mount points.
            if entry.name in {"proc", "sys", "dev"}:
                _add_dir(tar, entry.name)
                continue
            tar.add(str(entry), arcname=entry.name, recursive=True)

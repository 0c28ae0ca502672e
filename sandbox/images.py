"""Build sandbox images locally, `FROM scratch`, since no registry is reachable.

CLI (what scripts and CI call):
    python -m sandbox.images build-test [--if-missing] [--tag T]
    python -m sandbox.images build-default [--if-missing] [--tag T] [--suite S] [--mirror URL]

`build_default_image()` is what `tandem sandbox build-image` calls.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import aiodocker
import anyio

from .engine import connect_engine
from .errors import ImageBuildError, SandboxUnavailableError
from .rootfs import (
    DEFAULT_PACKAGES,
    Progress,
    debootstrap_rootfs,
    stop_running_builds,
    tar_directory,
    write_busybox_rootfs,
)
from .types import DEFAULT_IMAGE, TEST_IMAGE

logger = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"

# ADD (not COPY) of a local tar extracts it with owners and symlinks preserved.
DOCKERFILE = """\
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    HOME=/home/user LANG=C.UTF-8
LABEL tandem.image={kind}
USER {uid}:{gid}
WORKDIR /workspace
CMD ["/bin/sh"]
"""


async def image_exists(docker: aiodocker.Docker, tag: str) -> bool:
    try:
        await docker.images.inspect(tag)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _write_context(dest: BinaryIO, rootfs_tar: Path, dockerfile: str) -> None:
    with tarfile.open(fileobj=dest, mode="w") as ctx:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        ctx.addfile(info, io.BytesIO(data))
        ctx.add(str(rootfs_tar), arcname="rootfs.tar")


async def _docker_build(docker: aiodocker.Docker, context: Path, tag: str) -> None:
    with context.open("rb") as f:
        try:
            lines: list[dict[str, Any]] = await docker.images.build(
                fileobj=f, encoding="identity", tag=tag, rm=True, forcerm=True
            )
        except aiodocker.DockerError as exc:
            raise ImageBuildError(f"docker build of {tag} failed: {exc}") from exc
    for line in lines:
        if "error" in line:
            raise ImageBuildError(f"docker build of {tag} failed: {line['error']}")


def image_cache_key(suite: str, mirror: str, packages: Sequence[str], uid: int, gid: int) -> str:
    """The debootstrap inputs a cached root filesystem was made from."""
    text = "\n".join([suite, mirror, ",".join(sorted(packages)), str(uid), str(gid), DOCKERFILE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _quiet(_fraction: float | None, _line: str) -> None:
    pass


# Makes the rootfs tar under the work directory (or returns a cached one) and returns its path.
MakeRootfs = Callable[[Path, Progress], Path]


async def _build(
    tag: str,
    kind: str,
    if_missing: bool,
    make_rootfs: MakeRootfs,
    uid: int,
    gid: int,
    progress: Progress,
    docker_url: str | None = None,
) -> str:
    docker = await connect_engine(docker_url)
    try:
        if if_missing and await image_exists(docker, tag):
            logger.info("image %s exists; not rebuilding", tag)
            return tag
        with tempfile.TemporaryDirectory(prefix="tandem-image-") as tmp:
            work = Path(tmp)
            try:
                # Abandoned on cancel (a server shutting down mid-debootstrap must not wait
                # minutes for it): the build's subprocess is stopped, so the thread ends soon.
                rootfs_tar = await anyio.to_thread.run_sync(
                    make_rootfs, work, progress, abandon_on_cancel=True
                )
            except anyio.get_cancelled_exc_class():
                stop_running_builds()
                raise
            progress(0.9, "packing the build context")
            context = work / "context.tar"
            dockerfile = DOCKERFILE.format(kind=kind, uid=uid, gid=gid)
            with context.open("wb") as f:
                await anyio.to_thread.run_sync(_write_context, f, rootfs_tar, dockerfile)
            if rootfs_tar.is_relative_to(work):
                rootfs_tar.unlink()  # halve the peak disk use before the engine copies it
            progress(0.95, f"docker build -t {tag}")
            await _docker_build(docker, context, tag)
        logger.info("built image %s", tag)
        progress(1.0, f"built image {tag}")
        return tag
    finally:
        await docker.close()


async def build_test_image_async(
    tag: str = TEST_IMAGE,
    *,
    if_missing: bool = False,
    uid: int = 1000,
    gid: int = 1000,
    progress: Progress = _quiet,
    docker_url: str | None = None,
) -> str:
    """Build the busybox-static test image; returns its tag."""

    def make_rootfs(work: Path, report: Progress) -> Path:
        out = work / "rootfs.tar"
        report(0.1, "writing the busybox root filesystem")
        with out.open("wb") as f:
            write_busybox_rootfs(f, uid=uid, gid=gid)
        return out

    return await _build(tag, "test", if_missing, make_rootfs, uid, gid, progress, docker_url)


async def build_default_image_async(
    tag: str = DEFAULT_IMAGE,
    *,
    if_missing: bool = False,
    suite: str | None = None,
    mirror: str = DEFAULT_MIRROR,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    uid: int = 1000,
    gid: int = 1000,
    cache_dir: Path | None = None,
    progress: Progress = _quiet,
    docker_url: str | None = None,
) -> str:
    """Build the Debian minbase image with debootstrap (minutes; seconds with a warm `cache_dir`).

    The debootstrap result is kept as a tar under `cache_dir` (keyed by suite, mirror, packages and
    uid/gid), so rebuilding the image — another engine, a pruned image — skips debootstrap.
    """
    release = suite or _host_codename()
    cached = None
    if cache_dir is not None:
        key = image_cache_key(release, mirror, packages, uid, gid)
        cached = cache_dir / f"minbase-{release}-{key}.tar"

    def make_rootfs(work: Path, report: Progress) -> Path:
        if cached is not None and cached.is_file():
            report(0.85, f"using the cached root filesystem {cached}")
            return cached
        root = work / "root"
        root.mkdir()
        debootstrap_rootfs(
            root, suite=release, mirror=mirror, packages=packages, uid=uid, gid=gid, progress=report
        )
        report(0.85, "packing the root filesystem")
        out = work / "rootfs.tar"
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            out = cached.with_suffix(".partial")
        with out.open("wb") as f:
            tar_directory(root, f)
        shutil.rmtree(root, ignore_errors=True)
        if cached is not None:
            out.replace(cached)  # atomic: a killed build never leaves a half cache behind
            return cached
        return out

    return await _build(tag, "default", if_missing, make_rootfs, uid, gid, progress, docker_url)


def build_test_image(tag: str = TEST_IMAGE, *, if_missing: bool = False) -> str:
    """Blocking wrapper for CLIs (not for use inside an event loop)."""
    return anyio.run(lambda: build_test_image_async(tag, if_missing=if_missing))


def build_default_image(
    tag: str = DEFAULT_IMAGE,
    *,
    if_missing: bool = False,
    suite: str | None = None,
    mirror: str = DEFAULT_MIRROR,
    cache_dir: Path | None = None,
    progress: Progress = _quiet,
) -> str:
    """Blocking wrapper for `tandem sandbox build-image` (not for use inside an event loop)."""
    return anyio.run(
        lambda: build_default_image_async(
            tag, if_missing=if_missing, suite=suite, mirror=mirror, cache_dir=cache_dir, progress=progress
        )
    )


def _host_codename(default: str = "bookworm") -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"') or default
    except OSError:
        pass
    return default


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    test = sub.add_parser("build-test", help=f"busybox-static image ({TEST_IMAGE})")
    test.add_argument("--tag", default=TEST_IMAGE)
    test.add_argument("--if-missing", action="store_true")
    default = sub.add_parser("build-default", help=f"debootstrap minbase image ({DEFAULT_IMAGE})")
    default.add_argument("--tag", default=DEFAULT_IMAGE)
    default.add_argument("--if-missing", action="store_true")
    default.add_argument("--suite", default=None, help="Debian suite (default: the host's)")
    default.add_argument("--mirror", default=DEFAULT_MIRROR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        if args.command == "build-test":
            tag = build_test_image(args.tag, if_missing=args.if_missing)
        else:
            tag = build_default_image(
                args.tag, if_missing=args.if_missing, suite=args.suite, mirror=args.mirror
            )
    except (ImageBuildError, SandboxUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build sandbox images locally, `FROM scratch`, since no registry is reachable.

CLI (what scripts and CI call):
    python -m sandbox.images build-test [--if-missing] [--tag T]
    python -m sandbox.images build-default [--if-missing] [--tag T] [--suite S] [--mirror URL]

`build_default_image()` is what `tandem sandbox build-image` calls.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import aiodocker
import anyio

from .errors import ImageBuildError, SandboxUnavailableError
from .rootfs import DEFAULT_PACKAGES, debootstrap_rootfs, tar_directory, write_busybox_rootfs
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


async def _connect() -> aiodocker.Docker:
    docker = aiodocker.Docker()
    try:
        await docker.version()
    except Exception as exc:
        await docker.close()
        raise SandboxUnavailableError(f"no Docker engine answers: {exc}") from exc
    return docker


async def _build(tag: str, kind: str, if_missing: bool, make_rootfs: Any, uid: int, gid: int) -> str:
    docker = await _connect()
    try:
        if if_missing and await image_exists(docker, tag):
            logger.info("image %s exists; not rebuilding", tag)
            return tag
        with tempfile.TemporaryDirectory(prefix="tandem-image-") as tmp:
            work = Path(tmp)
            rootfs_tar = work / "rootfs.tar"
            await anyio.to_thread.run_sync(make_rootfs, work, rootfs_tar)
            context = work / "context.tar"
            dockerfile = DOCKERFILE.format(kind=kind, uid=uid, gid=gid)
            with context.open("wb") as f:
                await anyio.to_thread.run_sync(_write_context, f, rootfs_tar, dockerfile)
            rootfs_tar.unlink()  # halve the peak disk use before the engine copies it
            await _docker_build(docker, context, tag)
        logger.info("built image %s", tag)
        return tag
    finally:
        await docker.close()


async def build_test_image_async(
    tag: str = TEST_IMAGE, *, if_missing: bool = False, uid: int = 1000, gid: int = 1000
) -> str:
    """Build the busybox-static test image; returns its tag."""

    def make_rootfs(_work: Path, out: Path) -> None:
        with out.open("wb") as f:
            write_busybox_rootfs(f, uid=uid, gid=gid)

    return await _build(tag, "test", if_missing, make_rootfs, uid, gid)


async def build_default_image_async(
    tag: str = DEFAULT_IMAGE,
    *,
    if_missing: bool = False,
    suite: str | None = None,
    mirror: str = DEFAULT_MIRROR,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    uid: int = 1000,
    gid: int = 1000,
) -> str:
    """Build the Debian minbase image with debootstrap (slow: minutes); returns its tag."""
    release = suite or _host_codename()

    def make_rootfs(work: Path, out: Path) -> None:
        root = work / "root"
        root.mkdir()
        debootstrap_rootfs(root, suite=release, mirror=mirror, packages=packages, uid=uid, gid=gid)
        with out.open("wb") as f:
            tar_directory(root, f)

    return await _build(tag, "default", if_missing, make_rootfs, uid, gid)


def build_test_image(tag: str = TEST_IMAGE, *, if_missing: bool = False) -> str:
    """Blocking wrapper for CLIs (not for use inside an event loop)."""
    return anyio.run(lambda: build_test_image_async(tag, if_missing=if_missing))


def build_default_image(
    tag: str = DEFAULT_IMAGE,
    *,
    if_missing: bool = False,
    suite: str | None = None,
    mirror: str = DEFAULT_MIRROR,
) -> str:
    """Blocking wrapper for `tandem sandbox build-image` (not for use inside an event loop)."""
    return anyio.run(
        lambda: build_default_image_async(tag, if_missing=if_missing, suite=suite, mirror=mirror)
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

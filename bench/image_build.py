"""The real sandbox image (Debian minbase by debootstrap), built cold and then from the cache.

    python -m bench.image_build [--tag T] [--keep]

Cold: debootstrap downloads and installs the packages (needs root, debootstrap and a Debian
mirror). Cached: the server's rebuild path — the debootstrap result kept under the data directory
— so only `docker build` runs. Prints both times; the image is removed afterwards unless --keep
(the tag is unique by default, never the shared `tandem-sandbox:latest`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiodocker
import anyio

from sandbox.images import build_default_image_async


def _progress(fraction: float | None, line: str) -> None:
    if (line.startswith("I: ") and not line.startswith("I: Retrieving ")) or "Release" in line:
        print(f"  {fraction or 0:4.0%} {line}", file=sys.stderr)


async def _remove(tag: str) -> None:
    async with aiodocker.Docker() as docker:
        await docker.images.delete(tag, force=True)


async def _run(tag: str, keep: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tandem-bench-image-") as tmp:
        cache = Path(tmp) / "cache"
        t0 = time.monotonic()
        await build_default_image_async(tag, cache_dir=cache, progress=_progress)
        cold = time.monotonic() - t0
        await _remove(tag)
        t1 = time.monotonic()
        await build_default_image_async(tag, cache_dir=cache, progress=_progress)
        cached = time.monotonic() - t1
        size = sum(p.stat().st_size for p in cache.iterdir())
    async with aiodocker.Docker() as docker:
        info = await docker.images.inspect(tag)
    if not keep:
        await _remove(tag)
    return {"cold_s": cold, "cached_s": cached, "cache_mib": size / 2**20, "image_mib": info["Size"] / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.image_build", description=__doc__)
    parser.add_argument("--tag", default=f"tandem-bench-minbase-{uuid.uuid4().hex[:8]}:latest")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    result = anyio.run(_run, args.tag, args.keep)
    print(
        f"sandbox image {args.tag}: cold build {result['cold_s']:.1f}s, "
        f"from the cache {result['cached_s']:.1f}s "
        f"(cache {result['cache_mib']:.0f} MiB, image {result['image_mib']:.0f} MiB)"
    )


if __name__ == "__main__":
    main()

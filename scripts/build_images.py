"""Build the production images locally, with no registry: `bash scripts/build-images.sh`.

    tandem-debian:bookworm   the base: a Debian minbase made with debootstrap, imported FROM scratch
    tandem:latest            the app (deploy/images/app): Python, Tandem's wheel, requirements.lock
    tandem-postgres:latest   PostgreSQL, tandem-redis:latest Redis, tandem-nginx:latest nginx,
                             each from Debian's packages on the base (deploy/images/<name>)

Every image carries a `tandem.content-hash` label: the hash of what it is made from (its Dockerfile
directory, the base image's id, and for the app the source files). An image whose label matches is
not rebuilt, so a second run takes seconds. Every build runs `apt-get` against the Debian mirror
over the host's network (`docker build --network host`); the app's (deploy/images/app/Dockerfile,
the repository root as its context, as docker-compose.yml builds it) also runs `npm ci` and pip
inside its build stages, trusting the CA files in deploy/ca/ (deploy/ca/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "deploy" / "images"
SUITE = "bookworm"  # python3 3.11: the interpreter requirements.lock is resolved for
SERVICES = ("postgres", "redis", "nginx")
# What Tandem's wheel is made from: a change in any of these files rebuilds the app image (the
# README is not in the wheel: editing it rebuilds nothing).
APP_SOURCES = (
    "backend",
    "sandbox",
    "signaling",
    "web",
    "setup.py",
    "pyproject.toml",
    "requirements.lock",
    "LICENSE",
)
LABEL = "tandem.content-hash"
# dpkg leaves documentation, manuals and translations out of every image made from the base (the
# copyright files stay): tens of MiB per image that no service reads.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


class BuildError(RuntimeError):
    pass


@dataclass
class Built:
    tag: str
    status: str  # "built" or "cached"
    seconds: float
    size_bytes: int


def tag_for(name: str) -> str:
    return {"base": f"tandem-debian:{SUITE}", "app": "tandem:latest"}.get(name, f"tandem-{name}:latest")


def _run(argv: Sequence[str], *, verbose: bool, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a build step; its output is shown with --verbose, else only its tail when it fails."""
    if verbose:
        print("+", " ".join(argv), file=sys.stderr)
        result = subprocess.run(argv, text=True, **kwargs)  # type: ignore[call-overload]
    else:
        result = subprocess.run(argv, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = ((result.stdout or "") + (result.stderr or ""))[-3000:]
        raise BuildError(
            f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed ({result.returncode}):\n{tail}"
        )
    return result


def _inspect(tag: str, fmt: str) -> str | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", fmt, tag], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def existing_hash(tag: str) -> str | None:
    return _inspect(tag, f'{{{{index .Config.Labels "{LABEL}"}}}}')


def image_id(tag: str) -> str:
    found = _inspect(tag, "{{.Id}}")
    if not found:
        raise BuildError(f"image {tag} is missing")
    return found


def image_size(tag: str) -> int:
    return int(_inspect(tag, "{{.Size}}") or 0)


def hash_files(paths: Iterable[Path], base: Path, *extra: str) -> str:
    """sha256 over names and contents (sorted), plus `extra` strings; 16 hex digits."""
    digest = hashlib.sha256()
    for text in extra:
        digest.update(text.encode() + b"\0")
    for path in sorted(paths):
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def dir_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def app_source_files() -> list[Path]:
    """The files git knows under APP_SOURCES (committed or not; ignored ones like the built bundle
    and node_modules left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *APP_SOURCES],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    return [p for p in files if p.is_file() and not p.is_symlink()]


APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def host_mirror(sources: Sequence[Path] = APT_SOURCES) -> str:
    """The Debian mirror this machine's apt uses (so the image reaches what the host reaches):
    the first non-security URI in deb822 (`URIs:`) or one-line (`deb URI suite`) sources."""
    for path in sources:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if len(words) < 2 or "security" in line:
                continue
            if words[0] == "URIs:":
                return words[1]
            if words[0] == "deb":
                uri = next((w for w in words[1:] if "://" in w), None)
                if uri:
                    return uri
    from sandbox.images import DEFAULT_MIRROR

    return DEFAULT_MIRROR


def apt_options() -> str:
    """Options the host's apt needs for its mirror, passed on to apt inside the builds (a snapshot
    mirror's Release files are past their Valid-Until date)."""
    try:
        dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    except OSError:
        return ""
    if 'Acquire::Check-Valid-Until "false"' in dump:
        return "-o Acquire::Check-Valid-Until=false"
    return ""


def build_base(mirror: str, *, force: bool, verbose: bool) -> tuple[str, str]:
    """tandem-debian: debootstrap's minbase imported as an image (no parent: FROM scratch)."""
    tag = tag_for("base")
    content = hash_files([], ROOT, SUITE, mirror, DPKG_SLIM)
    if not force and existing_hash(tag) == content:
        return tag, "cached"
    if os.geteuid() != 0:
        raise BuildError("the base image needs debootstrap as root (sudo bash scripts/build-images.sh)")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise BuildError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="tandem-base-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        _run([debootstrap, "--variant=minbase", SUITE, str(root), mirror], verbose=verbose)
        # A container gets /dev, /proc and /sys from the runtime; apt caches are dead weight.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "dev"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "dev").mkdir()
        (root / "etc/dpkg/dpkg.cfg.d/tandem-slim").write_text(DPKG_SLIM)
        for pattern in ("usr/share/man/*", "usr/share/info/*", "usr/share/locale/*", "usr/share/doc/*/*"):
            for path in root.glob(pattern):
                if path.name not in ("copyright", "locale.alias"):
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"LABEL {LABEL}={content}",
            'CMD ["/bin/bash"]',
        ]
        argv = ["docker", "import", *(x for c in changes for x in ("--change", c)), "-", tag]
        _run(argv, verbose=verbose, stdin=tar.stdout)
        if tar.wait() != 0:
            raise BuildError("tar of the base root filesystem failed")
    return tag, "built"


def docker_build(
    tag: str,
    context: Path,
    content: str,
    build_args: dict[str, str],
    *,
    verbose: bool,
    dockerfile: Path | None = None,
) -> None:
    argv = ["docker", "build", "--network", "host", "--label", f"{LABEL}={content}", "-t", tag]
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if not verbose:
        argv.append("-q")
    _run([*argv, str(context)], verbose=verbose)


def build_service(name: str, base: str, apt: str, *, force: bool, verbose: bool) -> tuple[str, str]:
    tag = tag_for(name)
    context = IMAGES / name
    content = hash_files(dir_files(context), IMAGES, image_id(base), apt)
    if not force and existing_hash(tag) == content:
        return tag, "cached"
    docker_build(tag, context, content, {"BASE_IMAGE": base, "APT_OPTIONS": apt}, verbose=verbose)
    return tag, "built"


def app_build_inputs() -> list[Path]:
    """What the app image is made from besides the base: its Dockerfile directory, the sources
    and the context's .dockerignore (not deploy/ca: build-time trust, not part of the image)."""
    return [*dir_files(IMAGES / "app"), *app_source_files(), ROOT / ".dockerignore"]


def build_app(base: str, apt: str, *, force: bool, verbose: bool) -> tuple[str, str]:
    """The same build docker-compose.yml's `build:` runs: the repository root as the context."""
    tag = tag_for("app")
    content = hash_files(app_build_inputs(), ROOT, image_id(base), apt)
    if not force and existing_hash(tag) == content:
        return tag, "cached"
    build_args = {"BASE_IMAGE": base, "APT_OPTIONS": apt}
    docker_build(tag, ROOT, content, build_args, verbose=verbose, dockerfile=IMAGES / "app" / "Dockerfile")
    return tag, "built"


def build(names: Sequence[str], *, mirror: str, force: bool, verbose: bool) -> list[Built]:
    results: list[Built] = []

    def timed(fn, *args: object) -> str:  # type: ignore[no-untyped-def]
        start = time.monotonic()
        tag, status = fn(*args, force=force, verbose=verbose)
        results.append(Built(tag, status, time.monotonic() - start, image_size(tag)))
        print(f"{tag}: {status} in {results[-1].seconds:.0f} s", file=sys.stderr, flush=True)
        return tag

    base = timed(build_base, mirror)
    apt = apt_options()
    for name in names:
        if name == "app":
            timed(build_app, base, apt)
        elif name in SERVICES:
            timed(build_service, name, base, apt)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/build-images.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="*", help=f"which of app, {', '.join(SERVICES)} (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the content hash matches")
    parser.add_argument("--mirror", default=None, help="Debian mirror for the base (default: the host's)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show every build step's output")
    args = parser.parse_args(argv)
    names = args.images or ["app", *SERVICES]
    unknown = sorted(set(names) - {"app", *SERVICES})
    if unknown:
        parser.error(f"unknown image(s): {', '.join(unknown)}")
    try:
        results = build(names, mirror=args.mirror or host_mirror(), force=args.force, verbose=args.verbose)
    except BuildError as exc:
        print(f"build-images: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.tag}\t{r.status}\t{r.seconds:.1f}s\t{r.size_bytes / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

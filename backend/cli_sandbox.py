"""`tandem sandbox build-image [--test]`: build the terminal image locally, `FROM scratch`.

The default tag is the server's (`TANDEM_SANDBOX_IMAGE`); the debootstrap result is cached under
the data directory like the server's own background build, and the build lock is shared with it,
so the CLI and a running server never build at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import anyio
import typer

from backend.cli_admin import _settings
from backend.settings import Settings
from backend.terminals.image_build import build_lock, cache_dir, share_progress
from sandbox import TEST_IMAGE, ImageBuildError, SandboxUnavailableError
from sandbox.engine import connect_engine
from sandbox.images import DEFAULT_MIRROR, build_default_image_async, build_test_image_async, image_exists

sandbox_app = typer.Typer(no_args_is_help=True, help="Docker sandboxes for terminals.")


async def _exists(tag: str) -> bool:
    docker = await connect_engine()
    try:
        return await image_exists(docker, tag)
    finally:
        await docker.close()


class _Printer:
    """Build progress on stderr: debootstrap's stage lines, with the time since the start."""

    def __init__(self, settings: Settings) -> None:
        self.start = time.monotonic()
        self.settings = settings

    def __call__(self, fraction: float | None, line: str) -> None:
        share_progress(self.settings, fraction, line)  # a running server shows it in the panel
        if line.startswith("I: Retrieving ") and "Release" not in line and "Packages" not in line:
            return  # one line per package: too many to be useful
        pct = f"{fraction * 100:3.0f}% " if fraction is not None else ""
        typer.echo(f"[{time.monotonic() - self.start:5.0f}s] {pct}{line}", err=True)


@sandbox_app.command("build-image")
def build_image(
    test: Annotated[
        bool, typer.Option("--test", help=f"The tiny busybox image for the test suite ({TEST_IMAGE})")
    ] = False,
    tag: Annotated[
        str | None, typer.Option(help="Image name [default: TANDEM_SANDBOX_IMAGE, or per kind]")
    ] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the image exists")
    ] = False,
    suite: Annotated[str | None, typer.Option(help="Debian suite [default: the host's]")] = None,
    mirror: Annotated[str, typer.Option(help="Debian mirror for debootstrap")] = DEFAULT_MIRROR,
    data: Annotated[Path | None, typer.Option(help="Data directory (build cache) [default ./data]")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run debootstrap even when cached")] = False,
) -> None:
    """Build the sandbox image: a Debian minbase (bash, python3, git; minutes, cached: seconds) or --test."""
    settings = _settings(data, None)
    built_tag = tag or (TEST_IMAGE if test else settings.sandbox_image)
    try:
        if if_missing and anyio.run(_exists, built_tag):
            typer.echo(f"image {built_tag} exists; nothing to do", err=True)
            typer.echo(built_tag)
            return
        lock = build_lock(settings)
        if not lock.try_acquire():
            typer.echo(
                f"error: another Tandem process is building the image ({lock.path}); try again later",
                err=True,
            )
            raise typer.Exit(1)
        try:
            progress = _Printer(settings)
            if test:
                anyio.run(lambda: build_test_image_async(built_tag, progress=progress))
            else:
                cache = None if no_cache else cache_dir(settings)
                typer.echo(
                    f"building {built_tag} with debootstrap (minutes; seconds with a cache in {cache})",
                    err=True,
                )
                anyio.run(
                    lambda: build_default_image_async(
                        built_tag, suite=suite, mirror=mirror, cache_dir=cache, progress=progress
                    )
                )
        finally:
            lock.release()
    except (ImageBuildError, SandboxUnavailableError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"built {built_tag} in {time.monotonic() - progress.start:.0f}s; running servers turn terminals on",
        err=True,
    )
    typer.echo(built_tag)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")

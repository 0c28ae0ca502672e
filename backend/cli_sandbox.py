"""`tandem sandbox build-image [--test]`: build the terminal image locally, `FROM scratch`."""

from __future__ import annotations

from typing import Annotated

import typer

from sandbox import DEFAULT_IMAGE, TEST_IMAGE, ImageBuildError, SandboxUnavailableError
from sandbox.images import DEFAULT_MIRROR, build_default_image, build_test_image

sandbox_app = typer.Typer(no_args_is_help=True, help="Docker sandboxes for terminals.")


@sandbox_app.command("build-image")
def build_image(
    test: Annotated[
        bool, typer.Option("--test", help=f"The tiny busybox image for the test suite ({TEST_IMAGE})")
    ] = False,
    tag: Annotated[str | None, typer.Option(help="Image name [default: per kind]")] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the image exists")
    ] = False,
    suite: Annotated[str | None, typer.Option(help="Debian suite [default: the host's]")] = None,
    mirror: Annotated[str, typer.Option(help="Debian mirror for debootstrap")] = DEFAULT_MIRROR,
) -> None:
    """Build the sandbox image: a Debian minbase (bash, python3, git; a few minutes) or --test."""
    try:
        if test:
            built = build_test_image(tag or TEST_IMAGE, if_missing=if_missing)
        else:
            typer.echo("building the Debian minbase image with debootstrap (a few minutes)...", err=True)
            built = build_default_image(
                tag or DEFAULT_IMAGE, if_missing=if_missing, suite=suite, mirror=mirror
            )
    except (ImageBuildError, SandboxUnavailableError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(built)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")

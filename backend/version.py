"""The installed package's version and the versions a build is made of (`tandem --version`,
`tandem_build_info`, the OpenAPI document)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import typer

# The components whose versions decide behaviour on the wire and on disk.
COMPONENTS = ("pycrdt", "fastapi", "uvicorn", "aiortc", "av")


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"  # a checkout run without `pip install -e .`


__version__ = _installed("tandem")


def build_info() -> dict[str, str]:
    """Label values for `tandem_build_info`: Tandem, the interpreter and the pinned components."""
    info = {"version": __version__, "python": platform.python_version()}
    info.update({name.replace("-", "_"): _installed(name) for name in COMPONENTS})
    return info


def print_version(value: bool) -> None:
    """Typer callback of `--version`: print and exit before any command runs."""
    if value:
        typer.echo(f"tandem {__version__} (Python {platform.python_version()})")
        raise typer.Exit()

"""Tandem's browser front end: Jinja2 templates, static files and the esbuild-built bundle.

The server mounts ``STATIC_DIR`` at ``/static`` and renders templates from ``TEMPLATES_DIR``.
Built assets carry a content hash in their name; ``asset_url("room.js")`` maps a logical name to
its URL through ``static/dist/manifest.json`` (written by ``node build.mjs``).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "AssetsMissingError", "asset_url", "assets", "build_version"]

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
DIST_DIR = STATIC_DIR / "dist"
MANIFEST = DIST_DIR / "manifest.json"
STATIC_URL = "/static"


class AssetsMissingError(RuntimeError):
    """The front end was not built: run ``npm ci && node build.mjs`` in ``web/``."""


_cache: tuple[float, dict[str, str]] | None = None


def _manifest() -> dict[str, str]:
    """The build manifest, re-read when the file changes (a rebuild while serving)."""
    global _cache
    try:
        mtime = MANIFEST.stat().st_mtime
    except FileNotFoundError as exc:
        raise AssetsMissingError(
            f"{MANIFEST} is missing: run `npm ci && node build.mjs` in {WEB_DIR}"
        ) from exc
    if _cache is None or _cache[0] != mtime:
        _cache = (mtime, json.loads(MANIFEST.read_text(encoding="utf-8")))
    return _cache[1]


def asset_url(name: str) -> str:
    """URL of a built asset by its logical name (``landing.js``, ``room.css``, ...)."""
    try:
        return f"{STATIC_URL}/dist/{_manifest()[name]}"
    except KeyError as exc:
        raise AssetsMissingError(f"no built asset named {name!r} in {MANIFEST}") from exc


def assets() -> dict[str, str]:
    """Every built asset's URL by logical name (handed to the room page's script)."""
    return {k: f"{STATIC_URL}/dist/{v}" for k, v in _manifest().items() if not k.startswith("_")}


def build_version() -> str:
    return _manifest().get("_version", "")

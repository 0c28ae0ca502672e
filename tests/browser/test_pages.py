"""The pages, the PWA files and the bundle budgets, over HTTP (no browser needed)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support import TandemServer

pytestmark = pytest.mark.browser

LANDING_JS_GZIP_BUDGET = 100 * 1024
# `import ... from "./x.js"`, `import "./x.js"`, `export ... from "./x.js"` (not dynamic import()).
_STATIC_IMPORT = re.compile(r'(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]+from\s*)?"(\.\.?/[^"]+)"')
_ASSETS = re.compile(r'id="tandem-assets" type="application/json">(.*?)</script>')


def _static_imports(dist: Path, rel: str, seen: set[str]) -> None:
    """Follow an ES module's static imports (not dynamic import()) inside the bundle."""
    if rel in seen:
        return
    seen.add(rel)
    text = (dist / rel).read_text(encoding="utf-8")
    for spec in re.findall(
        r'(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]+from\s*)?"(\./[^"]+|\.\./[^"]+)"', text
    ):
        _static_imports(dist, _join(rel, spec), seen)


def _join(rel: str, spec: str) -> str:
    parts = Path(rel).parent.parts
    for seg in spec.split("/"):
        if seg == "..":
            parts = parts[:-1]
        elif seg != ".":
            parts = (*parts, seg)
    return "/".join(parts)


def test_landing_js_fits_the_budget(built_web: Path) -> None:
    dist = built_web.parent
    manifest = json.loads(built_web.read_text())
    files: set[str] = set()
    _static_imports(dist, manifest["landing.js"], files)
    size = sum(len(gzip.compress((dist / f).read_bytes(), 9)) for f in files)
    print(f"landing JS: {len(files)} files, {size} bytes gzip")
    assert not any("editor" in f or "terminal" in f for f in files), files
    assert size < LANDING_JS_GZIP_BUDGET


def _sign_up(http: httpx.Client, username: str) -> None:
    """Through the sign-up form, as the page posts it (the CSRF cookie comes with the form)."""
    http.get("/signup")
    form = {
        "username": username,
        "password": "correct horse battery",
        "csrf_token": http.cookies["tandem_csrf"],
    }
    assert http.post("/signup", data=form).status_code == 303


def test_pages_and_pwa_files_are_served(web_server: TandemServer) -> None:
    base = web_server.http_url
    with httpx.Client(base_url=base, timeout=10) as http:
        signed_out = http.get("/")
        assert signed_out.status_code == 200 and 'id="signup-link"' in signed_out.text
        assert http.get("/s/some-room").status_code == 303  # to the login page
        _sign_up(http, "pages-owner")
        landing = http.get("/")
        assert landing.status_code == 200 and 'id="new-session"' in landing.text
        assert http.get("/home").text == landing.text
        created = http.post(
            "/api/sessions", json={"title": "Pages"}, headers={"x-csrf-token": http.cookies["tandem_csrf"]}
        )
        assert created.status_code == 201, created.text
        room = http.get(f"/s/{created.json()['id']}")
        assert room.status_code == 200 and 'id="tandem-assets"' in room.text
        assert 'data-title="Pages"' in room.text and "<title>Pages · Tandem</title>" in room.text
        match = _ASSETS.search(room.text)
        assert match is not None
        assets = json.loads(match.group(1))
        for name in ("room.js", "editor.js", "editor.css", "editor.worker.js", "app.css"):
            r = http.get(assets[name], headers={"accept-encoding": "gzip"})
            assert r.status_code == 200, name
            assert "immutable" in r.headers["cache-control"]
        sw = http.get("/sw.js")
        assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
        assert sw.headers["cache-control"] == "no-cache"
        # It precaches the app shell only: Monaco's ~80 language chunks are cached on first use.
        listed = re.search(r'\["/static/[^\]]*\]', sw.text)
        assert listed is not None
        precache = json.loads(listed.group(0))
        for name in ("room.js", "editor.js", "editor.css", "editor.worker.js", "app.css"):
            assert assets[name] in precache, name
        assert len(precache) < 30, precache
        for url in precache:
            assert http.get(url).status_code == 200, url
        manifest = http.get("/static/manifest.webmanifest").json()
        assert manifest["name"] == "Tandem"
        for icon in manifest["icons"]:
            png = http.get(icon["src"])
            assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        # No CDN at run time: every script and stylesheet the pages name is ours.
        for html in (landing.text, room.text):
            assert not re.search(r'(?:src|href)="(?:https?:)?//', html)

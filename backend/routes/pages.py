"""HTML pages and the front end's static files: `/` and `/home` (the landing page, which is the
home list of my sessions once signed in), `/s/{session}` (the room), `/sw.js` (the service worker,
scope `/`), and `/static` (templates' assets and the built bundle).

Pages only render; identity and roles come from the Identity seam (the access guard in
`auth_pages` resolves the room's caller first). In `--no-auth` mode everyone is an editor and the
page's `?view=1` makes the editor read-only. Every page sets the CSRF cookie its scripts echo.
"""

from __future__ import annotations

import mimetypes
from functools import lru_cache
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import Scope

import web
from backend.access import csrf
from backend.access.colors import PALETTE
from backend.access.models import CodingSession
from backend.routes.deps import EngineDep, OptionalAccountDep, SettingsDep, cookie_secure, get_settings

router = APIRouter()

SessionName = Annotated[str, Path(min_length=1, max_length=200)]

# Hashed build outputs never change under a name; everything else is revalidated.
_IMMUTABLE = "public, max-age=31536000, immutable"


class _StaticFiles(StaticFiles):
    """StaticFiles with cache headers for content-hashed names, serving the build's .gz twins."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        headers = dict(scope.get("headers", []))
        gz = path + ".gz"
        if (
            path.startswith("dist/")
            and b"gzip" in headers.get(b"accept-encoding", b"")
            and self.lookup_path(gz)[1] is not None
        ):
            response = await super().get_response(gz, scope)
            if response.status_code == 200:
                response.headers["content-encoding"] = "gzip"
                response.headers["content-type"] = _media_type(path)
                response.headers["vary"] = "Accept-Encoding"
        else:
            response = await super().get_response(path, scope)
        if path.startswith("dist/") and path not in ("dist/sw.js", "dist/manifest.json"):
            response.headers["cache-control"] = _IMMUTABLE
        else:
            response.headers.setdefault("cache-control", "no-cache")
        return response


def _media_type(path: str) -> str:
    if path.endswith((".js", ".mjs")):
        return "text/javascript; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


router.mount("/static", _StaticFiles(directory=web.STATIC_DIR, check_dir=False), name="static")


@lru_cache(maxsize=1)
def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(web.TEMPLATES_DIR))
    templates.env.globals["asset_url"] = web.asset_url
    return templates


def _render(request: Request, name: str, context: dict[str, object]) -> Response:
    token = csrf.token_of(request)
    try:
        response = _templates().TemplateResponse(request, name, {"csrf_token": token, **context})
    except web.AssetsMissingError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    csrf.set_cookie(response, token, cookie_secure(get_settings(request)))
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/home", response_class=HTMLResponse, include_in_schema=False)
async def landing(request: Request, settings: SettingsDep, account: OptionalAccountDep) -> Response:
    """Signed out: what Tandem is, sign up / log in. Signed in (or holding a guest pass): my
    sessions (web/src/home.js). `--no-auth`: a name, a colour and New session."""
    auth = not settings.no_auth
    return _render(
        request,
        "landing.html",
        {"auth": auth, "account": account.username if account is not None else None},
    )


def _title_of(engine: Engine, session: str) -> str | None:
    with Session(engine) as db:
        row = db.get(CodingSession, session)
        return row.title if row is not None else None


@router.get("/s/{session}", response_class=HTMLResponse, include_in_schema=False)
async def room(request: Request, session: SessionName, engine: EngineDep) -> Response:
    try:
        assets = web.assets()
    except web.AssetsMissingError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    # The access guard (backend/routes/auth_pages.py) puts the principal here; `--no-auth`: editor.
    principal = getattr(request.state, "principal", None)
    role = str(principal.role) if principal is not None else "editor"
    title = None
    if principal is not None:
        title = await anyio.to_thread.run_sync(_title_of, engine, session)
    # Who the page is, as the server stamps it everywhere (presence, comments, terminals): the
    # page shows this, never a name of its own. None in `--no-auth` mode (the client names itself).
    identity = (
        {
            "id": principal.id,
            "name": principal.name,
            "color": principal.color,
            "role": role,
            "palette": PALETTE,
        }
        if principal is not None
        else None
    )
    context = {
        "session": session,
        "title": title or session,
        "role": role,
        "auth": principal is not None,
        "me": principal.name if principal is not None else "",
        "assets": assets,
        "identity": identity,
    }
    return _render(request, "room.html", context)


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    path = web.DIST_DIR / "sw.js"
    if not path.is_file():
        return PlainTextResponse("front end not built", status_code=404)
    return FileResponse(
        path,
        media_type="text/javascript; charset=utf-8",
        headers={"cache-control": "no-cache", "service-worker-allowed": "/"},
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages without an icon link (the API docs, error pages):
    the app icon, so no page ever logs a 404 for it."""
    return FileResponse(
        web.STATIC_DIR / "icons" / "icon-192.png",
        media_type="image/png",
        headers={"cache-control": "public, max-age=86400"},
    )

"""Server-rendered account pages: `/login`, `/signup`, `/logout`, `/join/{token}`, and the access
guard in front of the room page `/s/{session}` (normal mode only; `--no-auth` skips it).

Every form post carries the double-submit CSRF token. The room page itself is `pages.room`; the
guard resolves the caller first and leaves the principal in `request.state.principal` for it.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, select

import web
from backend.access import accounts, csrf, links
from backend.access.authorize import Action, authorize
from backend.access.identity import LOGIN_COOKIE, credentials_of, resolve
from backend.access.models import Account, ShareLink
from backend.access.sessions import get_session
from backend.access.tokens import hash_token
from backend.auth.types import Principal
from backend.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    CredentialsMissingError,
    InvalidInputError,
    RateLimitedError,
    SessionNotFoundError,
    TandemError,
)
from backend.routes.api_auth import log_in, set_login_cookie
from backend.routes.api_links import set_guest_cookie
from backend.routes.deps import (
    DbDep,
    EngineDep,
    LoginLimiterDep,
    OptionalAccountDep,
    SettingsDep,
    cookie_secure,
)
from backend.routes.errors import status_of
from backend.settings import Settings

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]


@lru_cache(maxsize=1)
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(web.TEMPLATES_DIR))


def render(request: Request, settings: Settings, name: str, status: int = 200, **context: object) -> Response:
    token = csrf.token_of(request)
    response = _templates().TemplateResponse(
        request, f"auth/{name}", {"csrf_token": token, **context}, status_code=status
    )
    csrf.set_cookie(response, token, cookie_secure(settings))
    return response


def problem(request: Request, settings: Settings, status: int, heading: str, message: str) -> Response:
    return render(request, settings, "problem.html", status, heading=heading, message=message)


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect to `//evil` or `https://evil`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _csrf_failed(request: Request, settings: Settings) -> Response:
    return problem(request, settings, 403, "Form expired", "Reload the page and try again.")


# -- login, signup, logout ---------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    return render(request, settings, "login.html", next=safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    limiter: LoginLimiterDep,
    username: FormStr,
    password: FormStr,
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    if not csrf.valid(request, csrf_token):
        return _csrf_failed(request, settings)
    target = safe_next(next)
    try:
        _account, token = log_in(request, db, settings, limiter, username, password)
    except (AuthenticationError, RateLimitedError) as exc:
        return render(
            request, settings, "login.html", status_of(exc), error=str(exc), username=username, next=target
        )
    response = RedirectResponse(target, status_code=303)
    set_login_cookie(response, token, settings)
    return response


@router.get("/signup")
def signup_page(request: Request, db: DbDep, settings: SettingsDep, next: str = "/") -> Response:
    first = db.exec(select(Account.id).limit(1)).first() is None
    return render(
        request,
        settings,
        "signup.html",
        next=safe_next(next),
        first=first,
        min_length=settings.password_min_length,
    )


@router.post("/signup")
def signup_submit(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    limiter: LoginLimiterDep,
    username: FormStr,
    password: FormStr,
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    if not csrf.valid(request, csrf_token):
        return _csrf_failed(request, settings)
    target = safe_next(next)
    try:
        account = accounts.create_account(db, username, password, settings)
    except (InvalidInputError, ConflictError, AccessDeniedError) as exc:
        return render(
            request,
            settings,
            "signup.html",
            status_of(exc),
            error=str(exc),
            username=username,
            next=target,
            first=False,
            min_length=settings.password_min_length,
        )
    response = RedirectResponse(target, status_code=303)
    set_login_cookie(response, accounts.start_login(db, account, settings), settings)
    return response


@router.post("/logout")
def logout_submit(request: Request, db: DbDep, settings: SettingsDep, csrf_token: FormStr = "") -> Response:
    if not csrf.valid(request, csrf_token):
        return _csrf_failed(request, settings)
    token = request.cookies.get(LOGIN_COOKIE)
    if token:
        accounts.end_login(db, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


# -- join links --------------------------------------------------------------------------------


@router.get("/join/{token}")
def join_page(
    token: str, request: Request, db: DbDep, settings: SettingsDep, account: OptionalAccountDep
) -> Response:
    link = db.exec(select(ShareLink).where(ShareLink.token_hash == hash_token(token))).first()
    if link is None:
        return problem(request, settings, 404, "Unknown link", "This link does not exist. Ask for a new one.")
    reason = links.link_problem(link)
    if reason is not None:
        return problem(request, settings, 410, "Link not usable", reason[0].upper() + reason[1:] + ".")
    session = get_session(db, link.session_id)
    return render(
        request,
        settings,
        "join.html",
        token=token,
        title=session.title,
        role=link.role,
        account=account.username if account else None,
        name_max=settings.display_name_max_length,
        guest_days=f"{settings.guest_ttl_days:g}",
    )


@router.post("/join/{token}")
def join_submit(
    token: str,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    account: OptionalAccountDep,
    csrf_token: FormStr = "",
    name: FormStr = "",
) -> Response:
    if not csrf.valid(request, csrf_token):
        return _csrf_failed(request, settings)
    try:
        if account is not None:
            session, _role = links.join_as_member(db, token, account)
            return RedirectResponse(f"/s/{quote(session.id)}", status_code=303)
        guest, guest_token = links.join_as_guest(db, token, name, settings)
    except AuthenticationError as exc:
        return problem(request, settings, 410, "Link not usable", str(exc))
    except (InvalidInputError, SessionNotFoundError) as exc:
        return problem(request, settings, status_of(exc), "Cannot join", str(exc))
    response = RedirectResponse(f"/s/{quote(guest.session_id)}", status_code=303)
    set_guest_cookie(response, guest.session_id, guest_token, settings)
    return response


# -- the room page's guard ---------------------------------------------------------------------


@router.get("/s/{session}")
async def room_guard(request: Request, session: str, settings: SettingsDep, engine: EngineDep) -> Response:
    """Authorize `read` before the room page renders: no credentials -> the login page; bad ones
    -> 401; no access -> 403; unknown session -> 404."""

    def _resolve() -> Principal:
        with Session(engine) as db:
            return resolve(db, credentials_of(request, session), session)

    try:
        principal = await anyio.to_thread.run_sync(_resolve)
    except CredentialsMissingError:
        return RedirectResponse(f"/login?next={quote('/s/' + session)}", status_code=303)
    except TandemError as exc:
        headings = {401: "Your access expired", 403: "No access", 404: "No such session"}
        code = status_of(exc)
        return problem(request, settings, code, headings.get(code, "Error"), str(exc))
    if not authorize(principal, session, Action.READ):
        return problem(request, settings, 403, "No access", "You have no access to this session.")
    # For the room page: who is looking, with which role (`pages.room` renders it).
    request.state.principal = principal
    try:
        from backend.routes import pages
    except ImportError:  # the front end's routes are optional in this package
        return HTMLResponse(f"<h1>{escape(session)}</h1><p>role: {principal.role}</p>")
    return await pages.room(request, session, engine)

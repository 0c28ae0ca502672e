"""`/api/auth`: sign up, log in, log out, who am I, and the CSRF token for the other calls."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response, status

from backend.access import accounts, csrf
from backend.access.identity import LOGIN_COOKIE
from backend.access.models import Account, AccountCreate, AccountPublic
from backend.access.names import fold
from backend.access.ratelimit import LoginRateLimiter
from backend.routes.deps import AccountDep, CsrfDep, DbDep, LoginLimiterDep, SettingsDep, cookie_secure
from backend.settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"])


def set_login_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=int(settings.login_ttl_days * 86400),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings),
        path="/",
    )


def client_ip(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied by uvicorn)."""
    return request.client.host if request.client else "?"


def log_in(
    request: Request,
    db: DbDep,
    settings: Settings,
    limiter: LoginRateLimiter,
    username: str,
    password: str,
) -> tuple[Account, str]:
    """Check the password under the rate limit; return the account and a new login token.
    The attempt is counted before the check (backend.access.ratelimit): concurrent guesses
    cannot all slip through, and a right password takes its attempt back."""
    ip, folded = client_ip(request), fold(username)
    # Route handlers run in worker threads; the limiter's storage lives on the event loop.
    ticket = anyio.from_thread.run(limiter.attempt, folded, ip)
    account = accounts.check_password(db, username, password)
    if ticket is not None:
        anyio.from_thread.run(limiter.succeeded, ticket, folded, ip)
    return account, accounts.start_login(db, account, settings)


@router.get("/csrf")
def get_csrf(request: Request, response: Response, settings: SettingsDep) -> dict[str, str]:
    """The CSRF token (also set as the `tandem_csrf` cookie): send it as `X-CSRF-Token`."""
    token = csrf.token_of(request)
    csrf.set_cookie(response, token, cookie_secure(settings))
    return {"csrf_token": token}


@router.post("/signup", status_code=status.HTTP_201_CREATED, dependencies=[CsrfDep])
def signup(body: AccountCreate, response: Response, db: DbDep, settings: SettingsDep) -> AccountPublic:
    """Create an account and log in. The first account of an install is the admin."""
    account = accounts.create_account(db, body.username, body.password, settings)
    set_login_cookie(response, accounts.start_login(db, account, settings), settings)
    return accounts.public(account)


@router.post("/login", dependencies=[CsrfDep])
def login(
    body: AccountCreate,
    request: Request,
    response: Response,
    db: DbDep,
    settings: SettingsDep,
    limiter: LoginLimiterDep,
) -> AccountPublic:
    account, token = log_in(request, db, settings, limiter, body.username, body.password)
    set_login_cookie(response, token, settings)
    return accounts.public(account)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[CsrfDep])
def logout(request: Request, db: DbDep) -> Response:
    token = request.cookies.get(LOGIN_COOKIE)
    if token:
        accounts.end_login(db, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/me")
def me(account: AccountDep) -> AccountPublic:
    return accounts.public(account)

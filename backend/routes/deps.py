"""Dependencies of the HTTP routes: services, a database session, the caller, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlmodel import Session

from backend.access import csrf
from backend.access.accounts import account_for_login
from backend.access.identity import LOGIN_COOKIE, credentials_of, resolve
from backend.access.models import Account
from backend.auth.types import Principal
from backend.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_db(services: ServicesDep) -> Iterator[Session]:
    with Session(services.engine) as db:
        yield db


DbDep = Annotated[Session, Depends(get_db)]


def optional_account(request: Request, db: DbDep) -> Account | None:
    return account_for_login(db, request.cookies.get(LOGIN_COOKIE))


OptionalAccountDep = Annotated[Account | None, Depends(optional_account)]


def current_account(account: OptionalAccountDep) -> Account:
    if account is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return account


AccountDep = Annotated[Account, Depends(current_account)]


def session_principal(request: Request, db: DbDep, session_id: str) -> Principal:
    """The caller in the session of the path: login cookie, guest cookie or `?token=`."""
    return resolve(db, credentials_of(request, session_id), session_id)


PrincipalDep = Annotated[Principal, Depends(session_principal)]


def check_csrf(
    request: Request, x_csrf_token: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """JSON API: unsafe methods must echo the `tandem_csrf` cookie in `X-CSRF-Token`."""
    if not csrf.valid(request, x_csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token (GET /api/auth/csrf)")


CsrfDep = Depends(check_csrf)


def cookie_secure(services: Services) -> bool:
    s = services.settings
    if s.cookie_secure is not None:
        return s.cookie_secure
    return bool(s.public_url and s.public_url.startswith("https://"))


def public_base(request: Request, services: Services) -> str:
    return (services.settings.public_url or str(request.base_url)).rstrip("/")

"""CSRF protection by double submit: a random token in a cookie, echoed in a form field or header.

A cross-site page can make the browser send our cookies but can neither read the cookie nor set
the header, so a POST whose field/header equals the cookie came from our own pages (or from a
script that read the cookie itself). Together with SameSite=Lax login cookies and the Origin
check this covers forms and the JSON API alike. Every unsafe request is checked, login included
(login CSRF would sign a victim into the attacker's account).
"""

from __future__ import annotations

import secrets

from starlette.requests import HTTPConnection
from starlette.responses import Response

from backend.access.tokens import same

CSRF_COOKIE = "tandem_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def token_of(connection: HTTPConnection) -> str:
    """The browser's CSRF token, or a fresh one (set it with `set_cookie`)."""
    current = connection.cookies.get(CSRF_COOKIE)
    return current if current and len(current) >= 32 else secrets.token_urlsafe(32)


def set_cookie(response: Response, token: str, secure: bool) -> None:
    # Readable by the page's scripts on purpose (they echo it in the header); not a credential.
    response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="lax", secure=secure, path="/")


def valid(connection: HTTPConnection, submitted: str | None) -> bool:
    cookie = connection.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and len(cookie) >= 32 and same(cookie, submitted))

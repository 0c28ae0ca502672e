"""Map the backend's errors to HTTP answers (their WebSocket close codes: `closecodes.close_for`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    CredentialsMissingError,
    InvalidInputError,
    RateLimitedError,
    RateLimitUnavailableError,
    SessionNotFoundError,
    TandemError,
)

HTTP_STATUS: dict[type[TandemError], int] = {
    CredentialsMissingError: 401,
    AuthenticationError: 401,
    AccessDeniedError: 403,
    SessionNotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    RateLimitedError: 429,
    RateLimitUnavailableError: 503,
}


def status_of(exc: TandemError) -> int:
    return next((code for cls, code in HTTP_STATUS.items() if isinstance(exc, cls)), 500)


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TandemError)
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["retry-after"] = str(max(1, int(exc.retry_after)))
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc), headers=headers)


def install(app: FastAPI) -> None:
    for cls in HTTP_STATUS:
        app.add_exception_handler(cls, _handle)

"""`/api/sandbox`: whether terminals are on, and if not why, how far their bring-up is, and how
to turn them on; `POST /api/sandbox/build` retries a failed image build (admins; anyone with
`--no-auth`, which is local development)."""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException, Request, status

from backend.access import csrf
from backend.access.models import Account
from backend.routes.deps import OptionalAccountDep, SettingsDep, TerminalsDep
from backend.settings import Settings
from backend.terminals.availability import SandboxStatus
from backend.terminals.service import TerminalService

router = APIRouter()


def _may_build(settings: Settings, account: Account | None) -> bool:
    return settings.no_auth or bool(account is not None and account.is_admin)


def _status(settings: Settings, terminals: TerminalService, account: Account | None) -> SandboxStatus:
    current = terminals.status
    retryable = current.phase in ("failed", "image_missing")
    return current.model_copy(update={"can_retry": retryable and _may_build(settings, account)})


@router.get("/api/sandbox", response_model=SandboxStatus)
async def sandbox_status(
    settings: SettingsDep, terminals: TerminalsDep, account: OptionalAccountDep
) -> SandboxStatus:
    return _status(settings, terminals, account)


@router.post("/api/sandbox/build", response_model=SandboxStatus, status_code=status.HTTP_202_ACCEPTED)
async def sandbox_build(
    request: Request,
    settings: SettingsDep,
    terminals: TerminalsDep,
    account: OptionalAccountDep,
    x_csrf_token: str | None = Header(default=None, include_in_schema=False),
) -> SandboxStatus:
    if not _may_build(settings, account):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may rebuild the sandbox image")
    if not settings.no_auth and not csrf.valid(request, x_csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token (GET /api/auth/csrf)")
    if not terminals.retry_build():
        raise HTTPException(status.HTTP_409_CONFLICT, f"nothing to build: {terminals.status.phase}")
    return _status(settings, terminals, account)

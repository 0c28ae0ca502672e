"""`/healthz`: the process answers. `/readyz`: its dependencies answer too (503 when one fails)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.ops.readiness import run_checks

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    ready, body = await run_checks(request.app.state.services)
    return JSONResponse(body, status_code=200 if ready else 503, headers={"cache-control": "no-store"})

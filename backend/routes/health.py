"""`/healthz`: the process answers. `/readyz`: its dependencies answer too (503 when one fails)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.ops.readiness import run_checks
from backend.routes.deps import ReadinessDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(targets: ReadinessDep) -> JSONResponse:
    ready, body = await run_checks(targets)
    return JSONResponse(body, status_code=200 if ready else 503, headers={"cache-control": "no-store"})

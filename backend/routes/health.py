"""`/healthz`: the process answers. (`/readyz` with per-dependency checks comes with operations.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}

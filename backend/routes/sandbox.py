"""`GET /api/sandbox`: whether terminals are on, and if not why and how to turn them on."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.terminals.availability import SandboxStatus

router = APIRouter()


@router.get("/api/sandbox", response_model=SandboxStatus)
async def sandbox_status(request: Request) -> SandboxStatus:
    return request.app.state.services.terminals.status

"""`/metrics`: the Prometheus text format (restrict it at the reverse proxy in production)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        return Response("metrics are off (TANDEM_METRICS_ENABLED=false)\n", status_code=404)
    # Scrapes read in-memory counters only: rendering is synchronous and short.
    body = generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""`/docs` (Swagger UI) and `/redoc` with their scripts served by Tandem: nothing from a CDN.

The assets come from the `fastapi-offline` wheel (MIT), which ships Swagger UI's bundle and CSS and
ReDoc's standalone script as package data; only its files are used, not its FastAPI wrapper.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
ASSET_DIR = str(files("fastapi_offline") / "static")

router = APIRouter(include_in_schema=False)
router.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        redoc_js_url=f"{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS}/favicon.png",
        with_google_fonts=False,
    )

"""The studio's web page (``/studio``) and the API docs (``/docs``), both served offline.

The studio is plain ES modules under ``breathvoice/studio`` with its third-party files in
``studio/vendor`` (see its README): nothing is fetched from another site. Every studio
response carries a strict Content-Security-Policy: scripts and styles from this server
only, no inline script, and connections to this server alone (HTTP and WebSocket).

``/docs`` is FastAPI's Swagger UI page with its assets served from ``/docs/assets``, and
``/redoc`` is ReDoc with its bundle served from ``/redoc/assets``, so both render on a
machine without internet. ReDoc's page has a policy of its own: it injects its styles and
starts its search worker from a ``blob:``, and its footer's logo (on a CDN) is refused by
the browser, so the page never reaches another site. The studio's files and the docs are
public.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from breathvoice import __version__

STUDIO_DIR = Path(__file__).resolve().parent.parent / "studio"
SWAGGER_DIR = STUDIO_DIR / "vendor" / "swagger-ui"
REDOC_DIR = STUDIO_DIR / "vendor" / "redoc"
STUDIO_PATH = "/studio"
DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"
REDOC_PATH = "/redoc"
REDOC_ASSETS = "/redoc/assets"
REDOC_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; connect-src 'self'; worker-src blob:; font-src 'self'; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
                "object-src 'none'")
_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,255}$")
"""A Host header fit to be echoed into the policy (anything else gets 'self' only)."""


def content_security_policy(host: str | None) -> str:
    """The studio's policy; ``connect-src`` names this server's ws/wss origin as well."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"media-src 'self' blob:; connect-src 'self'{sockets}; font-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'")


class StudioFiles(StaticFiles):
    """Static files with the studio's security headers on every response."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        response.headers["Content-Security-Policy"] = content_security_policy(host)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response


router = APIRouter(include_in_schema=False)


@router.get(STUDIO_PATH)
def studio_root() -> RedirectResponse:
    return RedirectResponse(f"{STUDIO_PATH}/", status_code=307)


@router.get(f"{STUDIO_PATH}/config.json")
def studio_config(request: Request) -> dict[str, Any]:
    """What the page must know before it can call the API: whether it needs a key."""
    return {"keys_required": request.app.state.access.keys_configured(),
            "version": __version__}


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
    )


@router.get(REDOC_PATH)
def redoc(request: Request) -> HTMLResponse:
    app = request.app
    page = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
                          redoc_js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
                          redoc_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
                          with_google_fonts=False)
    page.headers["Content-Security-Policy"] = REDOC_POLICY
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def install(app: FastAPI) -> None:
    """Serve the studio and the offline docs (the app is built with ``docs_url=None`` and
    ``redoc_url=None``)."""
    app.include_router(router)
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_DIR), name="docs-assets")
    app.mount(REDOC_ASSETS, StaticFiles(directory=REDOC_DIR), name="redoc-assets")
    app.mount(f"{STUDIO_PATH}/", StudioFiles(directory=STUDIO_DIR, html=True), name="studio")
    # Where the docs page is, for whoever asks the app (the access checks keep it public).
    app.docs_url = DOCS_PATH
    app.redoc_url = REDOC_PATH

"""Where errors become HTTP responses: the one place.

Every error body keeps the seed's shape: ``{"success": false, "error": message}``, plus
``code`` (the wire code) and ``detail`` (what FastAPI clients read). A failed single TTS
also carries the seed's ``result`` block with ``status: "failed"``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from breathvoice.errors import BreathVoiceError, EngineError, InvalidRequest

log = logging.getLogger(__name__)

SINGLE_TTS_RESULT = "single_tts_result"
"""``request.state`` key under which the single-TTS route leaves its partial result."""

_STATUS_CODES = {400: "INVALID_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
                 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def error_body(request: Request, code: str, message: str) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": message, "code": code, "detail": message}
    result = getattr(request.state, SINGLE_TTS_RESULT, None)
    if result is not None:
        body["result"] = {**result, "status": "failed", "error": message}
    return body


def _respond(request: Request, status: int, code: str, message: str,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request, code, message), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BreathVoiceError)
    async def _domain(request: Request, exc: BreathVoiceError) -> JSONResponse:
        if isinstance(exc, EngineError):
            log.error("engine error on %s: %s", request.url.path, exc.message)
        return _respond(request, exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = exc.body if isinstance(exc.body, dict) else {}
        if request.url.path.endswith("/single-tts"):
            setattr(request.state, SINGLE_TTS_RESULT, {
                "filename": body.get("filename"), "text": body.get("text"),
            })
        return _respond(request, 400, InvalidRequest.code, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        return _respond(request, exc.status_code, code, str(exc.detail),
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return _respond(request, 500, EngineError.code, "internal server error")

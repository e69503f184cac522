"""Where errors become HTTP responses: the one place.

The body takes the shape the route's clients parse, chosen by path prefix:

- BreathVOICE routes keep the seed's shape: ``{"success": false, "error": message}``, plus
  ``code`` (the wire code) and ``detail`` (what FastAPI clients read). A failed single TTS
  also carries the seed's ``result`` block with ``status: "failed"``.
- OpenAI routes (``/v1/audio/``, ``/v1/models``):
  ``{"error": {"message", "type", "param", "code"}}``.
- ElevenLabs routes (``/v1/text-to-speech``, ``/v1/voices``):
  ``{"detail": {"status", "message"}}``.

The HTTP status is the error's own in every shape.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from breathvoice.db.retry import is_disconnect
from breathvoice.errors import (
    BreathVoiceError,
    DatabaseUnavailable,
    EngineError,
    InvalidRequest,
    UnsupportedFormat,
    VoiceGroupNotFound,
)

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


Dialect = Literal["breathvoice", "openai", "elevenlabs"]

OPENAI_PREFIXES = ("/v1/audio/", "/v1/models")
ELEVENLABS_PREFIXES = ("/v1/text-to-speech", "/v1/voices", "/v1/pronunciation-dictionaries")

_OPENAI_PARAMS: dict[type[BreathVoiceError], str] = {
    VoiceGroupNotFound: "voice", UnsupportedFormat: "response_format",
}
_OPENAI_TYPES = {402: "insufficient_quota", 429: "requests"}
"""OpenAI's ``type`` where it is not ``invalid_request_error`` (a bad key is one too)."""


def dialect_of(path: str) -> Dialect:
    """Which API a path belongs to, so its errors take the shape its clients parse."""
    if path.startswith(OPENAI_PREFIXES):
        return "openai"
    if path.startswith(ELEVENLABS_PREFIXES):
        return "elevenlabs"
    return "breathvoice"


def openai_error_body(status: int, code: str, message: str,
                      param: str | None = None) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else _OPENAI_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code.lower()}}


def elevenlabs_error_body(code: str, message: str) -> dict[str, Any]:
    return {"detail": {"status": code.lower(), "message": message}}


def _respond(request: Request, status: int, code: str, message: str,
             headers: dict[str, str] | None = None, param: str | None = None) -> JSONResponse:
    dialect = dialect_of(request.url.path)
    if dialect == "openai":
        body = openai_error_body(status, code, message, param)
    elif dialect == "elevenlabs":
        body = elevenlabs_error_body(code, message)
    else:
        body = error_body(request, code, message)
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(request: Request, exc: BreathVoiceError) -> JSONResponse:
    """The response for a domain error, in the shape of the route's dialect, with the
    error's own headers (a concurrency refusal says how many requests are running)."""
    return _respond(request, exc.http_status, exc.code, exc.message,
                    headers=getattr(exc, "headers", None), param=_OPENAI_PARAMS.get(type(exc)))


def _validation_param(exc: RequestValidationError) -> str | None:
    for err in exc.errors()[:1]:
        fields = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        return ".".join(fields) or None
    return None


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
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = exc.body if isinstance(exc.body, dict) else {}
        if request.url.path.endswith("/single-tts"):
            setattr(request.state, SINGLE_TTS_RESULT, {
                "filename": body.get("filename"), "text": body.get("text"),
            })
        return _respond(request, 400, InvalidRequest.code, _describe_validation(exc),
                        param=_validation_param(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        return _respond(request, exc.status_code, code, str(exc.detail),
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_disconnect(exc):
            log.warning("database unreachable on %s: %s", request.url.path,
                        type(exc.orig).__name__)
            return error_response(request, DatabaseUnavailable())
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return _respond(request, 500, EngineError.code, "internal server error")

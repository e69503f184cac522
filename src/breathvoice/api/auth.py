"""Who may call the API, and how much: the one place where keys are checked.

A client presents its key the way its own SDK does: ``Authorization: Bearer <key>``
(OpenAI), ``xi-api-key`` (ElevenLabs) or ``api-key``; a browser passes a single-use
``token`` query parameter instead (``POST /breathvoice/tokens`` mints one). Until a key
exists, every local caller is let in (see :mod:`breathvoice.keys.access`).

:class:`AccessMiddleware` checks the caller from the headers and query alone, before any
route reads a body (:mod:`breathvoice.api.guard`). Routers that need a key declare
``dependencies=[RequireApiKey]``, which takes the caller the guard found; routes that
change voice groups or keys add ``RequireAdmin``. The dependency takes one of the key's
concurrency slots (429 with ``current-concurrent-requests`` and
``maximum-concurrent-requests``); characters are charged by the synthesis routes
themselves (:mod:`breathvoice.api.metering`). The middleware gives the slot back once the response
has been sent, refunds the characters of a refused request, adds the
``character-quota-remaining`` header and enforces the request body size limit.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from breathvoice.api.errors import SINGLE_TTS_RESULT
from breathvoice.api.guard import (
    PRINCIPAL,
    TOKEN_PARAM,
    access_control,
    admit,
    authenticate,
    principal_of,
    refuse,
)
from breathvoice.api.metering import note_remaining, settle_quota
from breathvoice.errors import BreathVoiceError, PayloadTooLarge
from breathvoice.keys.access import AccessControl, Principal
from breathvoice.keys.gate import SocketGate
from breathvoice.settings import Settings

__all__ = ["TOKEN_PARAM", "AccessMiddleware", "RequireAdmin", "RequireApiKey",
           "access_control", "authenticate", "open_socket_gate", "router"]

_SLOT = "breathvoice_slot"
_UPLOAD_PATH = "/breathvoice/upload-voice-group"
_QA_PATH = "/breathvoice/qa"
_JOBS_PATH = "/breathvoice/jobs"
_PLS_UPLOAD_PATH = "/v1/pronunciation-dictionaries/add-from-file"
_MULTIPART_ALLOWANCE = 1024 * 1024
"""Room for the multipart envelope around an upload of ``max_upload_bytes``."""


def open_socket_gate(access: AccessControl, principal: Principal) -> SocketGate:
    """At a WebSocket handshake: the caller's gate; raises QuotaExceeded."""
    gate = SocketGate(access, principal)
    gate.check_open()
    return gate


async def require_api_key(request: Request) -> Principal:
    """FastAPI dependency: the caller, holding a concurrency slot."""
    access = access_control(request.app)
    await _note_single_tts(request)
    principal = principal_of(request)
    state = request.state
    note_remaining(access, state, principal)
    slot = await run_in_threadpool(access.limiter.acquire, principal.key_id,
                                   principal.max_concurrent)
    setattr(state, _SLOT, slot)
    return principal


async def require_admin(request: Request) -> None:
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    if principal is None:
        principal = await require_api_key(request)
    AccessControl.require_scope(principal, "admin")


RequireApiKey = Depends(require_api_key)
RequireAdmin = Depends(require_admin)


async def _note_single_tts(request: Request) -> None:
    """The seed's failed-result block, for refusals that come before the route runs."""
    if request.method != "POST" or not request.url.path.endswith("/single-tts"):
        return
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        return  # the route answers the malformed body itself
    if isinstance(body, dict):
        setattr(request.state, SINGLE_TTS_RESULT,
                {"filename": body.get("filename"), "text": body.get("text")})


router = APIRouter(tags=["access"])


@router.post("/breathvoice/tokens", summary="Mint a single-use token for a browser")
def mint_token(request: Request, principal: Principal = RequireApiKey) -> dict[str, Any]:
    """A token that opens one WebSocket (or makes one synthesis request) as this key, with
    the ``synthesize`` scope only, passed as the ``token`` query parameter; it expires
    unused after ``expires_in`` seconds. A token cannot mint another (403)."""
    access = access_control(request.app)
    return {"token": access.mint_token(principal),
            "expires_in": access.tokens.lifetime_seconds, "single_use": True}


class AccessMiddleware:
    """The guard (host, origin, caller) for requests and sockets; then, for requests, the
    body size limit, slot release, refunds and the quota header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            admit(scope)
        except BreathVoiceError as exc:
            await refuse(scope, receive, send, exc)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        access = access_control(scope["app"])
        state: dict[str, Any] = scope.setdefault("state", {})
        limit = _body_limit(settings, scope["path"])
        too_large = PayloadTooLarge(f"request body is larger than {limit} bytes")

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = settle_quota(access, state, message)
            await send(message)

        if _declared_length(scope) > limit:
            await refuse(scope, receive, send_with_quota, too_large)
            return
        body = _LimitedBody(receive, limit, too_large)

        async def send_unless_refused(message: Message) -> None:
            # A body over the limit is answered with 413 below, whatever the app (which
            # saw its read fail) makes of it, unless the app had already begun to respond.
            if body.exceeded and not body.response_started:
                return
            if message["type"] == "http.response.start":
                body.response_started = True
            await send_with_quota(message)

        try:
            await self.app(scope, body.receive, send_unless_refused)
        except PayloadTooLarge:
            if not body.exceeded:
                raise
        finally:
            slot = state.pop(_SLOT, None)
            if slot is not None:
                access.limiter.release(slot)
        if body.exceeded and not body.response_started:
            await refuse(scope, receive, send_with_quota, too_large)


class _LimitedBody:
    """Passes a request body on until it exceeds ``limit`` bytes, then refuses to read on.

    A body without Content-Length (chunked) is only found too large while it is read, deep
    inside the framework, which would answer 400; :class:`AccessMiddleware` answers 413.
    """

    def __init__(self, receive: Receive, limit: int, error: PayloadTooLarge) -> None:
        self._receive = receive
        self._limit = limit
        self._error = error
        self._received = 0
        self.exceeded = False
        self.response_started = False

    async def receive(self) -> Message:
        if self.exceeded:
            raise self._error
        message = await self._receive()
        self._received += len(message.get("body", b""))
        if self._received > self._limit:
            self.exceeded = True
            raise self._error
        return message


def _body_limit(settings: Settings, path: str) -> int:
    if path.rstrip("/") == _UPLOAD_PATH:
        return settings.max_upload_bytes + _MULTIPART_ALLOWANCE
    if path.rstrip("/").endswith(_PLS_UPLOAD_PATH):  # over the PLS cap: a clear 400
        return settings.max_upload_bytes + _MULTIPART_ALLOWANCE
    if path.rstrip("/") == _QA_PATH:
        return settings.max_qa_upload_bytes + _MULTIPART_ALLOWANCE
    if path.rstrip("/") == _JOBS_PATH:
        return settings.max_script_bytes + _MULTIPART_ALLOWANCE
    return settings.max_request_body_bytes


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return 0

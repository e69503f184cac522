"""Who may call the API, and how much: the one place where keys are checked.

A client presents its key the way its own SDK does: ``Authorization: Bearer <key>``
(OpenAI), ``xi-api-key`` (ElevenLabs) or ``api-key``; a browser passes a single-use
``token`` query parameter instead (``POST /breathvoice/tokens`` mints one). While no key
is configured, every request is let in (see :mod:`breathvoice.keys.access`).

Routers that need a key declare ``dependencies=[RequireApiKey]``; routes that change voice
groups or keys add ``RequireAdmin``. The dependency charges the characters a JSON request
asks to speak against the key's quota (402 when they do not fit) and takes one of the
key's concurrency slots (429 with ``current-concurrent-requests`` and
``maximum-concurrent-requests``). :class:`AccessMiddleware` gives the slot back once the
response has been sent, refunds the characters of a refused request, adds the
``character-quota-remaining`` header and enforces the request body size limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from breathvoice.api.errors import SINGLE_TTS_RESULT, error_response
from breathvoice.errors import PayloadTooLarge, QuotaExceeded
from breathvoice.keys.access import AccessControl, Principal, characters_requested
from breathvoice.keys.gate import SocketGate
from breathvoice.settings import Settings
from breathvoice.streaming.params import api_key_of

QUOTA_HEADER = "character-quota-remaining"
TOKEN_PARAM = "token"
_PRINCIPAL = "breathvoice_principal"
_SLOT = "breathvoice_slot"
_CHARGED = "breathvoice_charged"
_REMAINING = "breathvoice_remaining"
_UPLOAD_PATH = "/breathvoice/upload-voice-group"
_QA_PATH = "/breathvoice/qa"
_MULTIPART_ALLOWANCE = 1024 * 1024
"""Room for the multipart envelope around an upload of ``max_upload_bytes``."""


def access_control(app: Any) -> AccessControl:
    access: AccessControl = app.state.access
    return access


def authenticate(access: AccessControl, query: Mapping[str, str],
                 headers: Mapping[str, str]) -> Principal:
    """The caller of a request or socket; raises Unauthorized (401 / INVALID_API_KEY)."""
    return access.authenticate(api_key_of(query, headers), query.get(TOKEN_PARAM))


def open_socket_gate(access: AccessControl, query: Mapping[str, str],
                     headers: Mapping[str, str]) -> SocketGate:
    """At a WebSocket handshake: the caller's gate; raises Unauthorized or QuotaExceeded."""
    gate = SocketGate(access, authenticate(access, query, headers))
    gate.check_open()
    return gate


async def require_api_key(request: Request) -> Principal:
    """FastAPI dependency: authenticate, charge the quota, take a concurrency slot."""
    access = access_control(request.app)
    body = await _json_body(request)
    if request.url.path.endswith("/single-tts") and isinstance(body, dict):
        # The seed's failed-result block, for refusals that come before the route runs.
        setattr(request.state, SINGLE_TTS_RESULT,
                {"filename": body.get("filename"), "text": body.get("text")})
    principal = authenticate(access, {TOKEN_PARAM: request.query_params.get(TOKEN_PARAM, "")},
                             request.headers)
    state = request.state
    setattr(state, _PRINCIPAL, principal)
    if principal.metered:
        chars = characters_requested(body)
        if chars:
            try:
                setattr(state, _REMAINING, access.charge(principal, chars))
            except QuotaExceeded:
                setattr(state, _REMAINING, access.remaining(principal))
                raise
            setattr(state, _CHARGED, chars)
        else:
            setattr(state, _REMAINING, access.remaining(principal))
    access.limiter.acquire(principal.key_id, principal.max_concurrent)
    setattr(state, _SLOT, principal.key_id)
    return principal


async def require_admin(request: Request) -> None:
    principal: Principal | None = getattr(request.state, _PRINCIPAL, None)
    if principal is None:
        principal = await require_api_key(request)
    AccessControl.require_scope(principal, "admin")


RequireApiKey = Depends(require_api_key)
RequireAdmin = Depends(require_admin)


async def _json_body(request: Request) -> Any:
    if request.method != "POST" or "json" not in request.headers.get("content-type", ""):
        return None
    try:
        return await request.json()
    except ValueError:
        return None  # the route answers the malformed body itself


router = APIRouter(tags=["access"])


@router.post("/breathvoice/tokens", summary="Mint a single-use token for a browser")
def mint_token(request: Request, principal: Principal = RequireApiKey) -> dict[str, Any]:
    """A token that opens one WebSocket (or makes one request) as this key, passed as the
    ``token`` query parameter; it expires unused after ``expires_in`` seconds."""
    access = access_control(request.app)
    return {"token": access.mint_token(principal),
            "expires_in": access.tokens.lifetime_seconds, "single_use": True}


class AccessMiddleware:
    """Body size limit, slot release, refunds and the quota header (HTTP only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        access = access_control(scope["app"])
        state: dict[str, Any] = scope.setdefault("state", {})
        limit = _body_limit(settings, scope["path"])
        too_large = PayloadTooLarge(f"request body is larger than {limit} bytes")

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _settle(access, state, message)
            await send(message)

        if _declared_length(scope) > limit:
            await _refuse(scope, receive, send_with_quota, too_large)
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
            await _refuse(scope, receive, send_with_quota, too_large)


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


def _settle(access: AccessControl, state: dict[str, Any], start: Message) -> Message:
    principal: Principal | None = state.get(_PRINCIPAL)
    remaining: int | None = state.get(_REMAINING)
    charged: int = state.pop(_CHARGED, 0)
    if principal is not None and charged and start["status"] >= 400:
        access.refund(principal, charged)
        remaining = None if remaining is None else remaining + charged
    if remaining is None:
        return start
    headers = [*start.get("headers", []), (QUOTA_HEADER.encode(), str(remaining).encode())]
    return {**start, "headers": headers}


def _body_limit(settings: Settings, path: str) -> int:
    if path.rstrip("/") == _UPLOAD_PATH:
        return settings.max_upload_bytes + _MULTIPART_ALLOWANCE
    if path.rstrip("/") == _QA_PATH:
        return settings.max_qa_upload_bytes + _MULTIPART_ALLOWANCE
    return settings.max_request_body_bytes


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return 0


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: PayloadTooLarge) -> None:
    response = error_response(Request(scope, receive), exc)
    response.headers["connection"] = "close"  # the unread body is not worth reading
    await response(scope, receive, send)

"""The door of every request and socket, checked from its headers before a body is read.

In order, for HTTP requests and WebSocket handshakes alike:

1. ``Host`` must name this server (:class:`~breathvoice.keys.origins.OriginPolicy`), so a
   page that rebinds its own DNS name to 127.0.0.1 is refused;
2. while no key is configured, an ``Origin`` other than the server's own is refused;
3. outside the public paths (health, ``GET /``, the docs and the studio's files), the
   caller's key or single-use token is checked and the caller left in the scope's state,
   where :func:`principal_of` finds it. A token is redeemed here and only here.

A refusal is the error in the route's dialect (403, 401) with ``Connection: close``, the
unread body being not worth reading; a socket is accepted, told the error and closed with
1008, as every refused socket is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from breathvoice.api.errors import SINGLE_TTS_RESULT, error_response
from breathvoice.errors import BreathVoiceError
from breathvoice.keys.access import AccessControl, Principal
from breathvoice.keys.origins import OriginPolicy
from breathvoice.streaming.params import api_key_of
from multi_ws_tts_sdk.protocol import ErrorOutput, serialize_server_message

TOKEN_PARAM = "token"
PRINCIPAL = "breathvoice_principal"
"""Key of the caller in the scope's state (``request.state.breathvoice_principal``)."""
PUBLIC_PATHS = frozenset({"/", "/breathvoice/health"})
PUBLIC_PREFIXES = ("/studio/", "/docs/", "/redoc/")
"""The studio's static files and the docs' own assets; the docs' pages are added from the
app's ``docs_url``, ``redoc_url`` and ``openapi_url``."""


def access_control(app: Any) -> AccessControl:
    access: AccessControl = app.state.access
    return access


def authenticate(access: AccessControl, query: Mapping[str, str],
                 headers: Mapping[str, str]) -> Principal:
    """The caller of a request or socket; raises Unauthorized (401 / INVALID_API_KEY)."""
    return access.authenticate(api_key_of(query, headers), query.get(TOKEN_PARAM))


def principal_of(conn: HTTPConnection) -> Principal:
    """The caller the guard let in (authenticated here if the app runs without it)."""
    found: Principal | None = getattr(conn.state, PRINCIPAL, None)
    if found is None:
        found = authenticate(access_control(conn.app), conn.query_params, conn.headers)
        setattr(conn.state, PRINCIPAL, found)
    return found


def is_public(app: Any, path: str) -> bool:
    path = path.rstrip("/") or "/"
    docs = {app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    return (path in PUBLIC_PATHS or path in docs or path == "/studio"
            or path.startswith(PUBLIC_PREFIXES))


def admit(scope: Scope) -> None:
    """Check a request's or handshake's headers; raises the refusal (403, 401)."""
    conn = HTTPConnection(scope)
    app = scope["app"]
    access = access_control(app)
    origins: OriginPolicy = app.state.origins
    host = conn.headers.get("host")
    state = scope.setdefault("state", {})
    try:
        origins.check_host(host)
        if not access.keys_configured():
            origins.check_origin(conn.headers.get("origin"), scope["scheme"], host)
        if not is_public(app, scope["path"]):
            state[PRINCIPAL] = authenticate(access, conn.query_params, conn.headers)
    except BreathVoiceError:
        if scope["path"].rstrip("/").endswith("/single-tts"):
            # The seed's failed-result block, though the body naming the line is unread.
            state[SINGLE_TTS_RESULT] = {"filename": None, "text": None}
        raise


async def refuse(scope: Scope, receive: Receive, send: Send, exc: BreathVoiceError) -> None:
    """Answer a request (unread) or a socket handshake with ``exc``."""
    if scope["type"] == "websocket":
        await refuse_socket(WebSocket(scope, receive, send), exc)
        return
    response = error_response(Request(scope, receive), exc)
    response.headers["connection"] = "close"
    await response(scope, receive, send)


async def refuse_socket(websocket: WebSocket, exc: BreathVoiceError) -> None:
    """A refused socket: accepted, told the error in the protocol's shape, then closed."""
    await websocket.accept()
    await websocket.send_text(serialize_server_message(ErrorOutput(exc.code, exc.message)))
    await websocket.close(exc.ws_close, exc.code)

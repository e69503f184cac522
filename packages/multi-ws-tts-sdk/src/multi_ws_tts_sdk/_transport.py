"""Opening the WebSocket: URL building and the websockets version differences.

websockets 13+ has ``websockets.asyncio.client``; websockets 12 (the last release for
some Python 3.8 setups) only has the legacy client, which names the header argument
``extra_headers``. Failures are translated here, once, into :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, AsyncIterator, Dict, Mapping, Optional, Protocol, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

from websockets.exceptions import InvalidHandshake, InvalidURI

from .errors import AuthenticationError, TTSConnectionError

MULTI_CONTEXT_PATH = "/enterprise/v1/tts/{voice_id}/websocket/multi"
DEFAULT_PRIORITY = "dedicated_concurrency"
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_CONTEXTS_HEADER = "x-max-contexts"
DEFAULT_MAX_CONTEXTS = 5

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}

try:
    _client_module = importlib.import_module("websockets.asyncio.client")
    _HEADERS_ARGUMENT = "additional_headers"
except ImportError:  # websockets 12
    _client_module = importlib.import_module("websockets.client")
    _HEADERS_ARGUMENT = "extra_headers"


class WebSocketLike(Protocol):
    """What the client uses of a websockets connection (both implementations have it)."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def __aiter__(self) -> AsyncIterator[Union[str, bytes]]: ...


def close_status(ws: WebSocketLike) -> Tuple[Optional[int], str]:
    """The close frame's code and reason (websockets 13 keeps them on ``ws.protocol``)."""
    source: Any = ws if hasattr(ws, "close_code") else getattr(ws, "protocol", None)
    code = getattr(source, "close_code", None)
    reason = getattr(source, "close_reason", None)
    return (int(code) if code is not None else None), str(reason or "")


def advertised_max_contexts(ws: WebSocketLike) -> int:
    """The handshake response's ``X-Max-Contexts``, or 5 if it is absent or not a positive
    number (websockets 13+ keeps the response on ``ws.response``, 12 its headers on
    ``ws.response_headers``)."""
    headers = getattr(getattr(ws, "response", None), "headers", None)
    if headers is None:
        headers = getattr(ws, "response_headers", None)
    value = headers.get(MAX_CONTEXTS_HEADER) if headers is not None else None
    try:
        limit = int(str(value).strip()) if value is not None else DEFAULT_MAX_CONTEXTS
    except ValueError:
        return DEFAULT_MAX_CONTEXTS
    return limit if limit >= 1 else DEFAULT_MAX_CONTEXTS


def build_url(base_url: str, voice_id: str, query_params: Optional[Mapping[str, Any]]) -> str:
    """``{base_url}/enterprise/v1/tts/{voice_id}/websocket/multi?priority=…&…``.

    ``http(s)://`` base URLs are turned into ``ws(s)://``; a path in ``base_url`` is kept
    as a prefix (for servers behind a reverse proxy).
    """
    parts = urlsplit(base_url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"base_url must be a ws://, wss://, http:// or https:// URL: {base_url!r}")
    if not voice_id:
        raise ValueError("voice_id is required (argument or TTS_VOICE_ID)")
    params: Dict[str, str] = {"priority": DEFAULT_PRIORITY}
    for key, value in (query_params or {}).items():
        if value is None:
            continue
        params[str(key)] = _query_value(value)
    path = parts.path.rstrip("/") + MULTI_CONTEXT_PATH.format(voice_id=quote(voice_id, safe=""))
    return f"{scheme}://{parts.netloc}{path}?{urlencode(params)}"


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def redact_url(url: str) -> str:
    """The URL without its query string, for logs and error messages."""
    return url.split("?", 1)[0]


async def open_websocket(url: str, api_key: str, timeout: float) -> WebSocketLike:
    """Open the socket or raise a :class:`TTSConnectionError` that says why."""
    headers = {"api-key": api_key} if api_key else {}
    options: Dict[str, Any] = {
        _HEADERS_ARGUMENT: headers,
        "open_timeout": timeout,
        "max_size": MAX_FRAME_BYTES,
    }
    where = redact_url(url)
    try:
        connection: WebSocketLike = await asyncio.wait_for(
            _client_module.connect(url, **options), timeout + 1.0
        )
    except InvalidURI as exc:
        raise TTSConnectionError(f"invalid WebSocket URL: {where}") from exc
    except InvalidHandshake as exc:
        raise _refused(where, exc) from exc
    except asyncio.TimeoutError as exc:
        raise TTSConnectionError(f"timed out after {timeout:g} s connecting to {where}") from exc
    except OSError as exc:
        raise TTSConnectionError(f"cannot reach {where}: {exc.strerror or exc}") from exc
    return connection


def _refused(where: str, exc: InvalidHandshake) -> TTSConnectionError:
    status = _handshake_status(exc)
    if status in (401, 403):
        return AuthenticationError(
            f"the server refused the API key (HTTP {status}) at {where}", status=status
        )
    if status is not None:
        return TTSConnectionError(f"the server refused the connection (HTTP {status}) at {where}",
                                  status=status)
    return TTSConnectionError(f"WebSocket handshake with {where} failed: {exc}")


def _handshake_status(exc: InvalidHandshake) -> Optional[int]:
    response = getattr(exc, "response", None)  # websockets >= 13: InvalidStatus
    status = getattr(response, "status_code", None)
    if status is None:
        status = getattr(exc, "status_code", None)  # legacy InvalidStatusCode
    return int(status) if status is not None else None

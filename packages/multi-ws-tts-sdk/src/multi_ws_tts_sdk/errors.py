"""Exceptions raised by the WebSocket client.

    TTSError
    ├── TTSConnectionError (also a ConnectionError)   connect failed, socket gone
    │   ├── AuthenticationError                       the server refused the API key
    │   └── ConnectionClosedError                     the socket closed while in use
    ├── ContextError                                  the server reported an error for a context
    │   └── ContextLimitError (also a ValueError)     create_context() with every slot taken
    └── ContextClosedError                            text sent to a context that has ended

``except ConnectionError`` (as in the published README) catches every connection problem;
``except ValueError`` (what the published SDK raises for a 6th context) catches the limit.
"""

from __future__ import annotations

from typing import Optional, Tuple


class TTSError(Exception):
    """Base class of every error raised by the WebSocket client."""


class TTSConnectionError(TTSError, ConnectionError):
    """The connection could not be opened or is no longer usable.

    ``status`` is the HTTP status of a refused handshake, ``error_code`` the server's
    error code (``INVALID_API_KEY``, ``VOICE_NOT_FOUND``...), when there was one.
    """

    def __init__(
        self, message: str, status: Optional[int] = None, error_code: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class AuthenticationError(TTSConnectionError):
    """The server refused the API key (HTTP 401/403 or ``INVALID_API_KEY``)."""


class ConnectionClosedError(TTSConnectionError):
    """The socket closed; ``code`` and ``reason`` are the WebSocket close frame's."""

    def __init__(
        self,
        message: str,
        code: Optional[int] = None,
        reason: str = "",
        error_code: Optional[str] = None,
    ) -> None:
        super().__init__(message, error_code=error_code)
        self.code = code
        self.reason = reason


class ContextError(TTSError):
    """The server reported an error for one context (``error`` code and ``message``)."""

    def __init__(self, context_id: str, code: str, message: str) -> None:
        super().__init__(f"context {context_id!r}: {code}: {message}")
        self.context_id = context_id
        self.code = code
        self.message = message


class ContextLimitError(ContextError, ValueError):
    """``create_context`` while ``limit`` contexts are active (the server's
    ``MAX_CONTEXT_LIMIT_EXCEEDED``, raised before anything is sent). Closing one frees a slot.
    """

    def __init__(self, context_id: str, limit: int) -> None:
        super().__init__(
            context_id,
            "MAX_CONTEXT_LIMIT_EXCEEDED",
            f"at most {limit} contexts may be active on one connection; "
            "close one before creating another",
        )
        self.limit = limit


class ContextClosedError(TTSError):
    """Text was sent to a context after ``end_input()`` or ``close()``."""


def closed_failure(
    code: Optional[int], reason: str, last_error: Optional[Tuple[str, str]]
) -> TTSConnectionError:
    """Why the server closed: the error message it sent just before, else the close frame."""
    if last_error is not None:
        error_code, message = last_error
        text = f"the server closed the connection: {error_code}: {message}"
        if error_code == "INVALID_API_KEY":
            return AuthenticationError(text, error_code=error_code)
        return ConnectionClosedError(text, code, reason, error_code)
    detail = f": {reason}" if reason else ""
    return ConnectionClosedError(
        f"the server closed the connection (code {code}{detail})", code, reason
    )

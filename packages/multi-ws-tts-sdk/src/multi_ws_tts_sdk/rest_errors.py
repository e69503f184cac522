"""Exceptions raised by :class:`BreathVOICEClient` and :class:`AsyncBreathVOICEClient`.

    BreathVOICEError                 .status (HTTP status or None), .body (the JSON error body)
    ├── BreathVOICEConnectionError   no HTTP answer: refused, reset, timed out (a ConnectionError)
    ├── ClientError                  4xx: the request must change before it is sent again
    │   ├── BadRequestError          400
    │   ├── UnauthorizedError        401, 403
    │   ├── NotFoundError            404  unknown voice group or output
    │   ├── ConflictError            409  voice group exists and overwrite is false
    │   ├── PayloadTooLargeError     413
    │   └── RateLimitError           429  (retried before it is raised)
    └── ServerError                  5xx  (retried before it is raised)
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class BreathVOICEError(Exception):
    """A failed BreathVOICE call.

    ``status`` is the HTTP status (``None`` without an answer), ``body`` the server's JSON
    error body (``{"success": false, "error": …, "code": …}``) or ``None``, ``code`` its
    wire code when it has one, ``retry_after`` the seconds a ``Retry-After`` header asked for.
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        body: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        code = (body or {}).get("code")
        self.code: Optional[str] = code if isinstance(code, str) else None
        self.retry_after: Optional[float] = None


class BreathVOICEConnectionError(BreathVOICEError, ConnectionError):
    """The server could not be reached, or did not answer in time."""


class ClientError(BreathVOICEError):
    """A 4xx answer."""


class BadRequestError(ClientError):
    """400: invalid input (empty text, unsafe filename, bad zip...)."""


class UnauthorizedError(ClientError):
    """401/403: missing, invalid or insufficient API key."""


class NotFoundError(ClientError):
    """404: unknown voice group or output file."""


class ConflictError(ClientError):
    """409: the voice group exists and ``overwrite`` was false."""


class PayloadTooLargeError(ClientError):
    """413: the upload is larger than the server accepts."""


class RateLimitError(ClientError):
    """429: too many requests; raised after the retries ran out."""


class ServerError(BreathVOICEError):
    """5xx: the server failed; raised after the retries ran out."""


_BY_STATUS: Dict[int, Type[BreathVOICEError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_for_status(status: int, body: Optional[Dict[str, Any]], raw: bytes) -> BreathVOICEError:
    """The exception for an HTTP error answer, with the server's own message."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ClientError
    message = _message_from(body) or raw[:200].decode("utf-8", "replace").strip()
    return cls(f"HTTP {status}: {message}" if message else f"HTTP {status}", status, body)


def _message_from(body: Optional[Dict[str, Any]]) -> str:
    if not body:
        return ""
    for key in ("error", "detail", "message"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return ""

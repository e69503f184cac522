"""HTTP for the REST client on the standard library: requests, retries, multipart bodies.

Failures are translated here, once, into :mod:`.rest_errors`.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .rest_errors import BreathVOICEConnectionError, BreathVOICEError, error_for_status

logger = logging.getLogger("multi_ws_tts_sdk.rest")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "multi-ws-tts-sdk (BreathVOICEClient)"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Dict[str, Any]:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BreathVOICEError(f"the server answered HTTP {self.status} without JSON",
                                   self.status) from exc
        if not isinstance(data, dict):
            raise BreathVOICEError("the server answered JSON that is not an object", self.status)
        return data


class HttpSession:
    """Sends requests to one server; ``headers`` are added to every request.

    ``max_retries`` retries on 429 and 5xx answers (honouring ``Retry-After``) and, for
    idempotent requests only, on connection failures; waits grow as
    ``backoff * 2**attempt``, capped at ``max_backoff`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float = 8.0,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers: Dict[str, str] = dict(headers or {})

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
    ) -> Response:
        """Send and return a 2xx response, or raise a :class:`BreathVOICEError`."""
        url = self.url(path_or_url)
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        attempts = 1 + (self.max_retries if retries is None else retries)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return self._send_once(method, url, body, content_type, timeout)
            except BreathVOICEConnectionError:
                if last or not idempotent:
                    raise
                delay = self._delay(attempt, None)
            except BreathVOICEError as exc:
                if last or exc.status not in RETRY_STATUSES:
                    raise
                delay = self._delay(attempt, exc.retry_after)
            logger.debug("%s %s failed, retrying in %.2f s", method, url, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self,
        method: str,
        url: str,
        body: Optional[bytes],
        content_type: Optional[str],
        timeout: Optional[float],
    ) -> Response:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BreathVOICEConnectionError(f"cannot reach {url}: {reason}") from exc

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        return float(min(self.backoff * (2**attempt), self.max_backoff))


def _http_error(exc: urllib.error.HTTPError) -> BreathVOICEError:
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    finally:
        exc.close()
    body: Optional[Dict[str, Any]] = None
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw else None
        if isinstance(parsed, dict):
            body = parsed
    except (UnicodeDecodeError, ValueError):
        pass
    error = error_for_status(exc.code, body, raw)
    error.retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
    return error


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def json_body(payload: Mapping[str, Any]) -> Tuple[bytes, str]:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json"


def multipart_body(
    fields: Mapping[str, str], files: List[Tuple[str, str, bytes, str]]
) -> Tuple[bytes, str]:
    """A ``multipart/form-data`` body: text ``fields`` and ``(field, filename, data, type)``."""
    boundary = f"----BreathVOICE{uuid.uuid4().hex}"
    parts: List[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
            .encode() + value.encode("utf-8") + b"\r\n"
        )
    for name, filename, data, content_type in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts.append(head.encode("utf-8") + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")

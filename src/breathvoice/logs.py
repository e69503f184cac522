"""Logging for the server: secrets in query strings never reach a log line.

Browsers cannot set headers on a WebSocket, so keys and tokens travel in the query string
(``?xi_api_key=…``, ``?token=…``), which uvicorn writes into its access and error lines.
:class:`RedactSecrets` replaces the values of ``xi_api_key``, ``xi-api-key``, ``api_key``,
``authorization`` and ``token`` (any case, percent-encoded names too) with ``[redacted]``
in the message and its arguments; :func:`uvicorn_log_config` installs it on every handler
of uvicorn's logging setup, so the server's own loggers, which propagate there, are
covered too.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

SECRET_PARAMS = frozenset({"xi_api_key", "xi-api-key", "api_key", "authorization", "token"})
REDACTED = "[redacted]"
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"']+)=(?P<value>[^&;#\s\"']*)")


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters replaced."""
    def replace(match: re.Match[str]) -> str:
        if unquote_plus(match["name"]).strip().lower() not in SECRET_PARAMS:
            return match[0]
        return f"{match['lead']}{match['name']}={REDACTED}"

    return _PARAM.sub(replace, text) if "=" in text else text


class RedactSecrets(logging.Filter):
    """Redacts secret query values in a record's message and arguments (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactSecrets` on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    return config


def redact_root_handlers() -> None:
    """Put :class:`RedactSecrets` on the root logger's handlers (``basicConfig``'s)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())

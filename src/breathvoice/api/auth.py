"""Who may call the HTTP API: the one place where an API key is checked.

A client presents its key the way its own SDK does: ``Authorization: Bearer <key>``
(OpenAI), ``xi-api-key`` (ElevenLabs) or ``api-key``. When the server has no keys
configured (``BREATHVOICE_API_KEYS`` empty), every request is let in.

Routers that need a key declare ``dependencies=[RequireApiKey]``.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request

from breathvoice.errors import Unauthorized
from breathvoice.settings import Settings
from breathvoice.streaming.params import api_key_of


def check_api_key(settings: Settings, key: str | None) -> None:
    """Raise Unauthorized unless ``key`` may use this server."""
    if not settings.api_keys:
        return
    given = (key or "").encode()
    # Compare with every key, so the time taken says nothing about which one nearly matched.
    matches = [hmac.compare_digest(given, known.encode()) for known in settings.api_keys]
    if not any(matches):
        raise Unauthorized("Missing or invalid API key")


def require_api_key(request: Request) -> None:
    """FastAPI dependency: the request's key (from its headers) must be a valid one."""
    settings: Settings = request.app.state.settings
    check_api_key(settings, api_key_of({}, request.headers))


RequireApiKey = Depends(require_api_key)

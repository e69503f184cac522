"""Per-key concurrency slots and short-lived single-use tokens (both in memory).

A slot is held by each REST request that needs a key, for as long as its response is being
sent, and by each WebSocket generation while it runs: an idle socket or an idle context
holds none. Tokens let a browser open a socket without holding a key: a key mints one,
the page passes it as the ``token`` query parameter, and it works once, within its
lifetime, with the minting key's rights and limits.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from breathvoice.errors import TooManyRequests

TOKEN_PREFIX = "bvt_"


class ConcurrencyLimitReached(TooManyRequests):
    """429 with the two headers that tell the client how far over it is."""

    def __init__(self, current: int, maximum: int) -> None:
        super().__init__(
            f"this key may run {maximum} requests at once; {current} are running")
        self.headers = {
            "current-concurrent-requests": str(current),
            "maximum-concurrent-requests": str(maximum),
        }


class ConcurrencyLimiter:
    """How many requests each key is running; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    def acquire(self, key_id: str, maximum: int | None) -> None:
        """Take a slot, or raise ConcurrencyLimitReached if all ``maximum`` are taken."""
        with self._lock:
            current = self._running.get(key_id, 0)
            if maximum is not None and current >= maximum:
                raise ConcurrencyLimitReached(current, maximum)
            self._running[key_id] = current + 1

    def release(self, key_id: str) -> None:
        with self._lock:
            left = self._running.get(key_id, 0) - 1
            if left > 0:
                self._running[key_id] = left
            else:
                self._running.pop(key_id, None)

    def running(self, key_id: str) -> int:
        with self._lock:
            return self._running.get(key_id, 0)


@dataclass(frozen=True)
class Token:
    key_id: str
    expires_at: float


class TokenBook:
    """Tokens by digest; a token is removed when it is used or found expired."""

    def __init__(self, lifetime_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[bytes, Token] = {}

    def mint(self, key_id: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            self._tokens[_digest(token)] = Token(key_id, now + self.lifetime_seconds)
        return token

    def redeem(self, token: str) -> str | None:
        """The key id the token was minted by, once; None if unknown, used or expired."""
        with self._lock:
            found = self._tokens.pop(_digest(token), None)
        if found is None or found.expires_at <= self._clock():
            return None
        return found.key_id

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def _forget_expired(self, now: float) -> None:
        for digest in [d for d, t in self._tokens.items() if t.expires_at <= now]:
            del self._tokens[digest]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()

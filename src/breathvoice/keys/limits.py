"""Short-lived single-use tokens, in the database so any node redeems what another minted.

Tokens let a browser open a socket without holding a key: a key mints one, the page passes
it as the ``token`` query parameter, and it works once, within its lifetime, with the
minting key's rights and limits. Only a digest of each token is stored. Times are wall
clock (UNIX seconds), the clock every node shares.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, insert, select

from breathvoice.db import key_tokens
from breathvoice.keys.slots import ConcurrencyLimiter, ConcurrencyLimitReached

__all__ = ["TOKEN_PREFIX", "ConcurrencyLimitReached", "ConcurrencyLimiter", "TokenBook"]

TOKEN_PREFIX = "bvt_"


class TokenBook:
    """Tokens by digest; a token is removed when it is used, expired ones when one is minted."""

    def __init__(self, db: Engine, lifetime_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def mint(self, key_id: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        now = self._clock()
        with self.db.begin() as conn:
            conn.execute(delete(key_tokens).where(key_tokens.c.expires_at <= now))
            conn.execute(insert(key_tokens).values(digest=_digest(token), key_id=key_id,
                                                   expires_at=now + self.lifetime_seconds))
        return token

    def redeem(self, token: str) -> str | None:
        """The key id the token was minted by, once; None if unknown, used or expired."""
        digest = _digest(token)
        with self.db.begin() as conn:
            found = conn.execute(select(key_tokens.c.key_id, key_tokens.c.expires_at)
                                 .where(key_tokens.c.digest == digest)).first()
            # whoever deletes the row redeems it: two nodes racing cannot both win
            taken = conn.execute(delete(key_tokens)
                                 .where(key_tokens.c.digest == digest)).rowcount
        if found is None or not taken or found.expires_at <= self._clock():
            return None
        return str(found.key_id)

    def __len__(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(key_tokens)).scalar_one())


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()

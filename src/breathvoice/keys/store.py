"""API keys, their usage and quotas, in the server's database (:mod:`breathvoice.db`).

Only a SHA-256 digest of each key is stored. A slow password hash (bcrypt, scrypt) exists
to make guessing low-entropy secrets expensive; these keys are 32 random bytes, so there
is nothing to guess, and a fast digest lets every request be checked with one indexed
lookup instead of a deliberately slow computation.

The table lives beside the jobs, in SQLite under the data dir by default or in PostgreSQL
(``BREATHVOICE_DATABASE_URL``), so every server process and the ``breathvoice keys``
command share it. Every change is committed before the call returns, so a key created or
revoked on one node takes effect on every node's next request, and a character is counted
once whichever node spoke it. Keys from the separate ``keys.sqlite3`` file of earlier
versions are imported on open (:mod:`breathvoice.keys.legacy`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, case, exists, func, insert, select, update

from breathvoice.db import api_keys, database_url, open_database
from breathvoice.errors import InvalidRequest, NotFound, QuotaExceeded
from breathvoice.keys.legacy import import_legacy_keys
from breathvoice.settings import Settings

Scope = Literal["admin", "synthesize"]
SCOPES: tuple[Scope, ...] = ("admin", "synthesize")
KEY_PREFIX = "bv_"
_SHOWN_PREFIX_CHARS = 10


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    shown_prefix: str
    """The first characters of the key, so a person can tell keys apart in a listing."""
    scope: Scope
    char_quota: int | None
    chars_used: int
    max_concurrent: int | None
    created_at: float
    revoked_at: float | None

    @property
    def remaining_chars(self) -> int | None:
        return None if self.char_quota is None else max(0, self.char_quota - self.chars_used)


_COLUMNS = (api_keys.c.id, api_keys.c.name, api_keys.c.shown_prefix, api_keys.c.scope,
            api_keys.c.char_quota, api_keys.c.chars_used, api_keys.c.max_concurrent,
            api_keys.c.created_at, api_keys.c.revoked_at)
_ACTIVE = api_keys.c.revoked_at.is_(None)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(*row)


class KeyStore:
    """The key table; every method is thread-safe and commits before it returns."""

    def __init__(self, db: Engine, *, owns_engine: bool = False) -> None:
        self.db = db
        self._owns_engine = owns_engine

    @classmethod
    def open(cls, settings: Settings) -> KeyStore:
        """The keys of this server's database (migrated), with any old key file imported."""
        store = cls(open_database(database_url(settings)), owns_engine=True)
        import_legacy_keys(store.db, settings.data_dir)
        return store

    def close(self) -> None:
        if self._owns_engine:
            self.db.dispose()

    def create(self, scope: Scope, *, name: str = "", char_quota: int | None = None,
               max_concurrent: int | None = None) -> tuple[str, KeyRecord]:
        """A new key: returns the secret (shown once, never stored) and its record."""
        if scope not in SCOPES:
            raise InvalidRequest(f"scope must be one of {', '.join(SCOPES)}")
        if char_quota is not None and char_quota < 0:
            raise InvalidRequest("the character quota cannot be negative")
        if max_concurrent is not None and max_concurrent < 1:
            raise InvalidRequest("the concurrency limit must be at least 1")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = secrets.token_hex(6)
        with self.db.begin() as conn:
            conn.execute(insert(api_keys).values(
                id=key_id, name=name, key_hash=hash_key(secret),
                shown_prefix=secret[:_SHOWN_PREFIX_CHARS], scope=scope, char_quota=char_quota,
                chars_used=0, max_concurrent=max_concurrent, created_at=time.time()))
        return secret, self.get(key_id)

    def get(self, key_id: str) -> KeyRecord:
        with self.db.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFound(f"no key with id '{key_id}'")
        return _record(row)

    def find(self, secret: str) -> KeyRecord | None:
        """The active key whose secret this is, if any."""
        with self.db.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(
                api_keys.c.key_hash == hash_key(secret), _ACTIVE)).first()
        return None if row is None else _record(row)

    def list(self, include_revoked: bool = False) -> list[KeyRecord]:
        query = select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(_ACTIVE)
        with self.db.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def has_active_keys(self) -> bool:
        with self.db.connect() as conn:
            return bool(conn.execute(select(exists().where(_ACTIVE))).scalar())

    def has_had_keys(self) -> bool:
        """Whether any key was ever created here (revoked keys stay in the table)."""
        with self.db.connect() as conn:
            return bool(conn.execute(select(exists().select_from(api_keys))).scalar())

    def revoke(self, key_id: str, *, keep_an_admin: bool = False) -> KeyRecord | None:
        """Revoke a key (again: no change). With ``keep_an_admin``, the last active admin
        key is left as it is and None is returned."""
        admins = select(api_keys.c.id).where(api_keys.c.scope == "admin", _ACTIVE)
        query = update(api_keys).where(api_keys.c.id == key_id, _ACTIVE)
        if keep_an_admin:
            others = select(func.count()).select_from(admins.subquery()).scalar_subquery()
            query = query.where((api_keys.c.scope != "admin") | (others > 1))
        with self.db.begin() as conn:
            if keep_an_admin:  # PostgreSQL: two revocations at once cannot both pass
                conn.execute(admins.with_for_update())
            changed = conn.execute(query.values(revoked_at=time.time())).rowcount
        record = self.get(key_id)
        if not changed and record.revoked_at is None:
            return None
        return record

    def charge(self, key_id: str, chars: int) -> int | None:
        """Count ``chars`` against the key; returns what is left (None: no quota).

        Raises QuotaExceeded, counting nothing, if the key has fewer characters left. The
        check and the count are one statement, so nodes charging at once never overdraw.
        """
        fits = (api_keys.c.char_quota.is_(None)
                | (api_keys.c.chars_used + chars <= api_keys.c.char_quota))
        with self.db.begin() as conn:
            changed = conn.execute(update(api_keys).where(
                api_keys.c.id == key_id, _ACTIVE, fits
            ).values(chars_used=api_keys.c.chars_used + chars)).rowcount
            row = conn.execute(select(api_keys.c.char_quota, api_keys.c.chars_used)
                               .where(api_keys.c.id == key_id)).first()
        quota, used = (row[0], row[1]) if row is not None else (0, 0)
        if not changed:
            left = max(0, (quota or 0) - used)
            raise QuotaExceeded(
                f"character quota exhausted: {chars} characters requested, {left} left")
        return None if quota is None else max(0, quota - used)

    def refund(self, key_id: str, chars: int) -> None:
        """Give back characters charged for a request that was then refused."""
        used = api_keys.c.chars_used
        with self.db.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(
                chars_used=case((used > chars, used - chars), else_=0)))

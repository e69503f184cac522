"""API keys in an embedded SQLite database (``<data_dir>/keys.sqlite3``).

Only a SHA-256 digest of each key is stored. A slow password hash (bcrypt, scrypt) exists
to make guessing low-entropy secrets expensive; these keys are 32 random bytes, so there
is nothing to guess, and a fast digest lets every request be checked with one indexed
lookup instead of a deliberately slow computation.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists the steps,
applied in order on open. The server and the ``breathvoice keys`` command may use the
database at the same time (WAL journal, busy timeout), and every change is committed
before the call returns, so a key created or revoked from the command line takes effect
on the server's next request.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from breathvoice.errors import InvalidRequest, NotFound, QuotaExceeded

Scope = Literal["admin", "synthesize"]
SCOPES: tuple[Scope, ...] = ("admin", "synthesize")
KEY_PREFIX = "bv_"
_SHOWN_PREFIX_CHARS = 10

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    ("""
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        key_hash BLOB NOT NULL UNIQUE,
        shown_prefix TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('admin', 'synthesize')),
        char_quota INTEGER CHECK (char_quota IS NULL OR char_quota >= 0),
        chars_used INTEGER NOT NULL DEFAULT 0,
        max_concurrent INTEGER CHECK (max_concurrent IS NULL OR max_concurrent >= 1),
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
     "CREATE INDEX api_keys_active ON api_keys (revoked_at)"),
)
"""Schema steps: ``MIGRATIONS[n]`` takes a database from version n to n + 1."""


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


_COLUMNS = ("id, name, shown_prefix, scope, char_quota, chars_used, max_concurrent, "
            "created_at, revoked_at")


class KeyStore:
    """The key table; every method is thread-safe and commits before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
            return version

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in statements:
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (id, name, key_hash, shown_prefix, scope, char_quota, "
                "max_concurrent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, hash_key(secret), secret[:_SHOWN_PREFIX_CHARS], scope,
                 char_quota, max_concurrent, time.time()),
            )
        return secret, self.get(key_id)

    def get(self, key_id: str) -> KeyRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?",
                                   (key_id,)).fetchone()
        if row is None:
            raise NotFound(f"no key with id '{key_id}'")
        return KeyRecord(*row)

    def find(self, secret: str) -> KeyRecord | None:
        """The active key whose secret this is, if any."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (hash_key(secret),)).fetchone()
        return None if row is None else KeyRecord(*row)

    def list(self, include_revoked: bool = False) -> list[KeyRecord]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at").fetchall()
        return [KeyRecord(*row) for row in rows]

    def has_active_keys(self) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)").fetchone()
        return bool(row[0])

    def has_had_keys(self) -> bool:
        """Whether any key was ever created here (revoked keys stay in the table)."""
        with self._lock:
            row = self._db.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()
        return bool(row[0])

    def revoke(self, key_id: str, *, keep_an_admin: bool = False) -> KeyRecord | None:
        """Revoke a key (again: no change). With ``keep_an_admin``, the last active admin
        key is left as it is and None is returned."""
        keep = ("AND (scope != 'admin' OR (SELECT COUNT(*) FROM api_keys "
                "WHERE scope = 'admin' AND revoked_at IS NULL) > 1)") if keep_an_admin else ""
        with self._lock:
            changed = self._db.execute(
                f"UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL {keep}",
                (time.time(), key_id)).rowcount
        record = self.get(key_id)
        if not changed and record.revoked_at is None:
            return None
        return record

    def charge(self, key_id: str, chars: int) -> int | None:
        """Count ``chars`` against the key; returns what is left (None: no quota).

        Raises QuotaExceeded, counting nothing, if the key has fewer characters left.
        """
        with self._lock:
            changed = self._db.execute(
                "UPDATE api_keys SET chars_used = chars_used + ?1 WHERE id = ?2 "
                "AND revoked_at IS NULL AND (char_quota IS NULL OR chars_used + ?1 <= char_quota)",
                (chars, key_id)).rowcount
            row = self._db.execute("SELECT char_quota, chars_used FROM api_keys WHERE id = ?",
                                   (key_id,)).fetchone()
        quota, used = row if row is not None else (0, 0)
        if not changed:
            left = max(0, (quota or 0) - used)
            raise QuotaExceeded(
                f"character quota exhausted: {chars} characters requested, {left} left")
        return None if quota is None else max(0, quota - used)

    def refund(self, key_id: str, chars: int) -> None:
        """Give back characters charged for a request that was then refused."""
        with self._lock:
            self._db.execute(
                "UPDATE api_keys SET chars_used = MAX(0, chars_used - ?) WHERE id = ?",
                (chars, key_id))

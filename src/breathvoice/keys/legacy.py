"""Keys from the ``keys.sqlite3`` file of earlier versions, moved into the database.

Before keys shared the server's database they lived in ``<data_dir>/keys.sqlite3`` (raw
SQLite, schema version in ``PRAGMA user_version``). On open, every key found there that
the database does not hold yet is copied over as it was (digest, scope, quota, characters
used, revocation), so existing keys keep working. The file is then renamed
``keys.sqlite3.imported``: it is no longer read, and a second start imports nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from breathvoice.db import api_keys

log = logging.getLogger(__name__)

LEGACY_FILE = "keys.sqlite3"
IMPORTED_SUFFIX = ".imported"
_COLUMNS = ("id", "name", "key_hash", "shown_prefix", "scope", "char_quota", "chars_used",
            "max_concurrent", "created_at", "revoked_at")


def _read(path: Path) -> list[dict[str, object]]:
    with contextlib.closing(sqlite3.connect(path, timeout=10.0)) as old:
        found = old.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = 'api_keys'").fetchone()
        if found is None:
            return []
        rows = old.execute(f"SELECT {', '.join(_COLUMNS)} FROM api_keys").fetchall()
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def import_legacy_keys(db: Engine, data_dir: Path) -> int:
    """Copy the keys of ``data_dir``'s old key file into ``db``; how many were new."""
    path = data_dir / LEGACY_FILE
    if not path.is_file():
        return 0
    rows = _read(path)
    try:
        with db.begin() as conn:
            known = set(conn.execute(select(api_keys.c.id)).scalars())
            new = [row for row in rows if row["id"] not in known]
            if new:
                conn.execute(insert(api_keys), new)
    except IntegrityError:  # another process imported them at the same moment
        return 0
    with contextlib.suppress(FileNotFoundError):
        path.rename(path.with_name(LEGACY_FILE + IMPORTED_SUFFIX))
    log.info("imported %d API keys from %s into the database", len(new), LEGACY_FILE)
    return len(new)

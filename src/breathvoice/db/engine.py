"""Engine creation and migrations, so callers only ever name a URL.

PostgreSQL goes through psycopg 3. SQLite connections use WAL (readers never block the
writer, and a ``kill -9`` loses no committed transaction) and wait up to 30 s for a lock
instead of failing. The schema is brought to the newest Alembic revision programmatically
on open; on PostgreSQL under an advisory lock, so nodes starting together migrate once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, event, make_url, text

from breathvoice.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10
MIGRATION_LOCK = 0x42_56_4D_49  # any constant both nodes agree on


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(settings.data_dir / 'breathvoice.sqlite3').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def engine_url(url: str) -> URL:
    """``url`` with its driver spelled out: ``postgresql://`` (or ``postgres://``) means
    psycopg 3, the driver this package depends on."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_database(url: str) -> Engine:
    """An engine on ``url`` with its schema migrated to the newest revision.

    PostgreSQL connections are checked before use (``pool_pre_ping``), so a server that
    restarted costs a reconnection, not a failed request.
    """
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                     "timeout": BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10,
                               connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

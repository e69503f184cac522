"""The database: one schema (SQLAlchemy Core) for SQLite (the default) and PostgreSQL.

``open_database(url)`` builds the engine and brings the schema up to date with the Alembic
migrations shipped in this package; ``database_url(settings)`` picks the URL
(``BREATHVOICE_DATABASE_URL``, default ``sqlite:///<data_dir>/breathvoice.sqlite3``).
"""

from breathvoice.db.engine import database_url, open_database
from breathvoice.db.schema import (
    api_keys,
    job_lines,
    jobs,
    key_slots,
    key_tokens,
    metadata,
    pronunciation_dictionaries,
    pronunciation_versions,
    takes,
)

__all__ = ["api_keys", "database_url", "job_lines", "jobs", "key_slots", "key_tokens",
           "metadata", "open_database", "pronunciation_dictionaries",
           "pronunciation_versions", "takes"]

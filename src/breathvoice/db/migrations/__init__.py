"""Alembic migrations of :mod:`breathvoice.db.schema`, run by ``open_database``."""

"""Per-key concurrency slots, counted in the database so every node enforces one limit.

A slot is held by each REST request that needs a key, for as long as its response is being
sent, and by each WebSocket generation while it runs: an idle socket or an idle context
holds none. Only keys with a limit take slots (a key without one is never refused).

Each slot is a row with a lease: the process holding it renews the leases of all its slots
in the background, and a slot whose lease ran out (its process died or lost the database)
no longer counts and is deleted by the next acquisition. Taking a slot is one transaction
that first locks the key's row (PostgreSQL) or the database (SQLite), so two nodes taking
the last slot at once cannot both succeed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from breathvoice.db import api_keys, key_slots
from breathvoice.db.retry import reachable
from breathvoice.errors import TooManyRequests

log = logging.getLogger(__name__)

SLOT_LEASE_SECONDS = 30.0
"""How long a slot counts without its holder renewing it (it renews every third of it)."""


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
    """How many requests each key is running, across every process on the database."""

    def __init__(self, db: Engine, lease_seconds: float = SLOT_LEASE_SECONDS) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.holder = f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @reachable()
    def acquire(self, key_id: str, maximum: int | None) -> str | None:
        """Take a slot (its id; None for a key without a limit), or raise
        ConcurrencyLimitReached if all ``maximum`` are taken."""
        if maximum is None:
            return None
        now = time.time()
        slot = uuid.uuid4().hex
        with self.db.begin() as conn:
            conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id).with_for_update())
            conn.execute(delete(key_slots).where(key_slots.c.key_id == key_id,
                                                 key_slots.c.expires_at < now))
            current = self._count(conn, key_id)
            if current >= maximum:
                raise ConcurrencyLimitReached(current, maximum)
            conn.execute(insert(key_slots).values(id=slot, key_id=key_id, holder=self.holder,
                                                  expires_at=now + self.lease_seconds))
        with self._lock:
            self._held.add(slot)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name="key-slot-leases")
                self._renewer.start()
        return slot

    def release(self, slot: str | None) -> None:
        if slot is None:
            return
        with self._lock:
            self._held.discard(slot)
        try:
            with self.db.begin() as conn:
                conn.execute(delete(key_slots).where(key_slots.c.id == slot))
        except Exception:  # the database is away: the lease runs out by itself
            log.warning("could not free a concurrency slot; it lapses in %.0f s",
                        self.lease_seconds, exc_info=True)

    def running(self, key_id: str) -> int:
        with self.db.connect() as conn:
            return self._count(conn, key_id)

    def close(self) -> None:
        """Stop renewing and free this process's slots."""
        self._stop.set()
        with self._lock:
            held, self._held = list(self._held), set()
        for slot in held:
            self.release(slot)

    @staticmethod
    def _count(conn: Connection, key_id: str) -> int:
        query = select(func.count()).select_from(key_slots).where(
            key_slots.c.key_id == key_id, key_slots.c.expires_at >= time.time())
        return int(conn.execute(query).scalar_one())

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                held = list(self._held)
            if not held:
                continue
            try:  # only slots still held: one whose release failed is left to lapse
                with self.db.begin() as conn:
                    conn.execute(update(key_slots).where(key_slots.c.id.in_(held))
                                 .values(expires_at=time.time() + self.lease_seconds))
            except Exception:
                log.warning("renewing concurrency slots failed", exc_info=True)

"""The key database, tokens, slots and the start-up safety rule, without a server; each
test that touches the database runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from breathvoice.db import key_slots, open_database
from breathvoice.errors import Forbidden, NotFound, QuotaExceeded, Unauthorized
from breathvoice.keys import (
    AccessControl,
    ConcurrencyLimiter,
    ConcurrencyLimitReached,
    KeyStore,
    TokenBook,
    exposure_problem,
    is_loopback_host,
)
from breathvoice.keys.store import hash_key
from breathvoice.settings import Settings

OLD_SCHEMA = """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', key_hash BLOB NOT NULL UNIQUE,
        shown_prefix TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('admin', 'synthesize')),
        char_quota INTEGER CHECK (char_quota IS NULL OR char_quota >= 0),
        chars_used INTEGER NOT NULL DEFAULT 0,
        max_concurrent INTEGER CHECK (max_concurrent IS NULL OR max_concurrent >= 1),
        created_at REAL NOT NULL, revoked_at REAL)"""
"""The ``keys.sqlite3`` of earlier versions, as they wrote it (``PRAGMA user_version`` 1)."""


@pytest.fixture
def store(db_url: str) -> Iterator[KeyStore]:
    keys = KeyStore(open_database(db_url), owns_engine=True)
    yield keys
    keys.close()


def test_only_a_digest_of_the_key_reaches_the_disk(store: KeyStore, db_url: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    secret, record = store.create("synthesize", name="web")
    store.close()
    where = (tmp_path if db_url.startswith("sqlite")
             else request.getfixturevalue("postgres").data)
    raw = b"".join(p.read_bytes() for p in where.rglob("*") if p.is_file())
    assert hash_key(secret) in raw or db_url.startswith("postgresql")  # not yet checkpointed
    assert secret.encode() not in raw
    assert secret[10:].encode() not in raw  # only the shown prefix is kept in clear
    reopened = KeyStore(open_database(db_url), owns_engine=True)
    found = reopened.find(secret)
    assert found is not None and found.id == record.id and found.scope == "synthesize"
    assert reopened.find(secret + "x") is None
    reopened.close()


def test_keys_of_the_old_key_file_keep_working(db_url: str, tmp_path: Path) -> None:
    old_secret, revoked_secret = "bv_old-admin-secret", "bv_old-revoked-secret"
    with sqlite3.connect(tmp_path / "keys.sqlite3") as old:
        old.execute(OLD_SCHEMA)
        old.execute("PRAGMA user_version = 1")
        old.executemany(
            "INSERT INTO api_keys (id, name, key_hash, shown_prefix, scope, char_quota, "
            "chars_used, max_concurrent, created_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [("a1", "old", hash_key(old_secret), old_secret[:10], "synthesize", 100, 40, 2,
              1.0e9, None),
             ("r1", "gone", hash_key(revoked_secret), revoked_secret[:10], "admin", None, 0,
              None, 1.0e9, 2.0e9)])
    old.close()
    settings = Settings(data_dir=tmp_path, database_url=db_url)
    store = KeyStore.open(settings)
    found = store.find(old_secret)
    assert found is not None and (found.id, found.scope, found.char_quota, found.chars_used,
                                  found.max_concurrent) == ("a1", "synthesize", 100, 40, 2)
    assert store.find(revoked_secret) is None and store.has_had_keys()
    assert store.charge("a1", 60) == 0
    assert not (tmp_path / "keys.sqlite3").exists()
    assert (tmp_path / "keys.sqlite3.imported").exists()
    store.close()
    again = KeyStore.open(settings)  # nothing imported twice, the usage is the database's
    assert [r.id for r in again.list(include_revoked=True)] == ["a1", "r1"]
    assert again.get("a1").chars_used == 100
    again.close()


def test_revoked_keys_stop_working_and_unknown_ids_are_reported(store: KeyStore) -> None:
    secret, record = store.create("admin")
    store.revoke(record.id)
    assert store.find(secret) is None
    assert store.list() == []
    assert [r.id for r in store.list(include_revoked=True)] == [record.id]
    with pytest.raises(NotFound):
        store.revoke("nope")


def test_quota_is_charged_whole_or_not_at_all(store: KeyStore) -> None:
    _, record = store.create("synthesize", char_quota=10)
    assert store.charge(record.id, 6) == 4
    with pytest.raises(QuotaExceeded, match="5 characters requested, 4 left"):
        store.charge(record.id, 5)
    assert store.get(record.id).chars_used == 6
    store.refund(record.id, 6)
    assert store.charge(record.id, 10) == 0
    _, free = store.create("synthesize")
    assert store.charge(free.id, 10_000) is None
    assert store.get(free.id).chars_used == 10_000


def test_bad_key_settings_are_refused(store: KeyStore) -> None:
    for kwargs in ({"char_quota": -1}, {"max_concurrent": 0}):
        with pytest.raises(Exception, match="quota|concurrency"):
            store.create("synthesize", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="scope"):
        store.create("root")  # type: ignore[arg-type]


def test_access_without_keys_is_open_and_with_keys_is_closed(store: KeyStore) -> None:
    access = AccessControl(store)
    assert access.authenticate(None).scope == "admin"
    secret, record = store.create("synthesize", max_concurrent=2)
    with pytest.raises(Unauthorized):
        access.authenticate(None)
    with pytest.raises(Unauthorized):
        access.authenticate("bv_guess")
    principal = access.authenticate(secret)
    assert (principal.key_id, principal.scope, principal.max_concurrent) == (record.id,
                                                                             "synthesize", 2)
    with pytest.raises(Forbidden):
        AccessControl.require_scope(principal, "admin")
    AccessControl.require_scope(principal, "synthesize")


def test_static_keys_are_admins_without_limits(store: KeyStore) -> None:
    access = AccessControl(store, ["static-one", "static-two"])
    principal = access.authenticate("static-two")
    assert principal.scope == "admin" and not principal.metered
    assert access.charge_spoken(principal, "x" * 10**6) is None
    with pytest.raises(Unauthorized):
        access.authenticate("static-three")


def test_tokens_work_once_and_expire(store: KeyStore) -> None:
    now = [100.0]
    book = TokenBook(store.db, 60, clock=lambda: now[0])
    token = book.mint("k1")
    assert book.redeem(token) == "k1"
    assert book.redeem(token) is None
    late = book.mint("k1")
    now[0] += 61
    assert book.redeem(late) is None
    book.mint("k2")
    now[0] += 61
    book.mint("k3")
    assert len(book) == 1  # expired tokens are forgotten
    other_node = TokenBook(store.db, 60, clock=lambda: now[0])
    assert other_node.redeem(book.mint("k4")) == "k4"


def test_a_token_carries_its_keys_rights_until_the_key_is_revoked(store: KeyStore) -> None:
    access = AccessControl(store)
    secret, record = store.create("synthesize", char_quota=5)
    token = access.mint_token(access.authenticate(secret))
    assert access.authenticate(None, token).key_id == record.id
    with pytest.raises(Unauthorized, match="used"):
        access.authenticate(None, token)
    second = access.mint_token(access.authenticate(secret))
    store.revoke(record.id)
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate(None, second)


def test_concurrency_slots_are_one_limit_for_every_process(store: KeyStore) -> None:
    _, a = store.create("synthesize", max_concurrent=2)
    _, b = store.create("synthesize", max_concurrent=2)
    node1, node2 = ConcurrencyLimiter(store.db), ConcurrencyLimiter(store.db)
    first = node1.acquire(a.id, 2)
    node2.acquire(a.id, 2)
    node2.acquire(b.id, 2)
    for node in (node1, node2):
        with pytest.raises(ConcurrencyLimitReached) as refused:
            node.acquire(a.id, 2)
        assert refused.value.http_status == 429
        assert refused.value.headers == {"current-concurrent-requests": "2",
                                         "maximum-concurrent-requests": "2"}
    node1.release(first)
    node2.acquire(a.id, 2)
    assert node1.running(a.id) == 2 and node1.running(b.id) == 1
    assert node1.acquire(a.id, None) is None  # no limit: no slot to count
    node1.close()
    node2.close()
    assert node1.running(a.id) == 0


def test_many_threads_never_take_more_slots_than_the_limit(store: KeyStore) -> None:
    _, key = store.create("synthesize", max_concurrent=3)
    nodes = [ConcurrencyLimiter(store.db) for _ in range(4)]
    taken: list[str | None] = []
    refused: list[ConcurrencyLimitReached] = []

    def take(node: ConcurrencyLimiter) -> None:
        for _ in range(3):
            try:
                taken.append(node.acquire(key.id, 3))
            except ConcurrencyLimitReached as exc:
                refused.append(exc)

    threads = [threading.Thread(target=take, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 3 and len(refused) == 9
    assert nodes[0].running(key.id) == 3
    for node in nodes:
        node.close()


def test_a_dead_holders_slot_lapses_and_a_live_one_is_renewed(store: KeyStore) -> None:
    _, key = store.create("synthesize", max_concurrent=1)
    with store.db.begin() as conn:  # a slot its process never renewed (it died)
        conn.execute(insert(key_slots).values(id="dead", key_id=key.id, holder="gone",
                                              expires_at=time.time() - 1))
    live = ConcurrencyLimiter(store.db, lease_seconds=0.6)
    slot = live.acquire(key.id, 1)
    time.sleep(1.5)  # over twice the lease: it counts only because it was renewed
    with pytest.raises(ConcurrencyLimitReached):
        ConcurrencyLimiter(store.db).acquire(key.id, 1)
    live.release(slot)
    assert live.running(key.id) == 0
    live.close()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.4.5.6", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
    ("example.org", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_a_public_bind_needs_a_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="0.0.0.0")
    access = AccessControl.from_settings(settings)
    problem = exposure_problem(settings, access)
    assert problem is not None and "no API key" in problem and str(tmp_path) not in problem
    access.store.create("admin")
    assert exposure_problem(settings, access) is None
    static = Settings(data_dir=tmp_path / "static", host="0.0.0.0", api_keys=["k"])
    assert exposure_problem(static, AccessControl.from_settings(static)) is None
    loopback = Settings(data_dir=tmp_path / "other")
    assert exposure_problem(loopback, AccessControl.from_settings(loopback)) is None

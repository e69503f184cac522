"""The key database, tokens, slots and the start-up safety rule, without a server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
from breathvoice.keys.store import MIGRATIONS
from breathvoice.settings import Settings


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys.sqlite3")


def test_only_a_digest_of_the_key_reaches_the_disk(store: KeyStore, tmp_path: Path) -> None:
    secret, record = store.create("synthesize", name="web")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in raw
    assert secret[10:].encode() not in raw  # only the shown prefix is kept in clear
    reopened = KeyStore(tmp_path / "keys.sqlite3")
    found = reopened.find(secret)
    assert found is not None and found.id == record.id and found.scope == "synthesize"
    assert reopened.find(secret + "x") is None


def test_migrations_run_once_and_keep_data(store: KeyStore, tmp_path: Path) -> None:
    secret, _ = store.create("admin")
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    again = KeyStore(tmp_path / "keys.sqlite3")
    assert again.schema_version == len(MIGRATIONS)
    assert again.find(secret) is not None


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.sqlite3"
    KeyStore(path).close()
    broken = (*MIGRATIONS, ("ALTER TABLE api_keys ADD COLUMN note TEXT", "NOT SQL"))
    monkeypatch.setattr("breathvoice.keys.store.MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        KeyStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        columns = [row[1] for row in db.execute("PRAGMA table_info(api_keys)")]
    assert "note" not in columns


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
    book = TokenBook(60, clock=lambda: now[0])
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


def test_concurrency_slots_are_counted_per_key() -> None:
    limiter = ConcurrencyLimiter()
    limiter.acquire("a", 2)
    limiter.acquire("a", 2)
    limiter.acquire("b", 2)
    with pytest.raises(ConcurrencyLimitReached) as refused:
        limiter.acquire("a", 2)
    assert refused.value.http_status == 429
    assert refused.value.headers == {"current-concurrent-requests": "2",
                                     "maximum-concurrent-requests": "2"}
    limiter.release("a")
    limiter.acquire("a", 2)
    assert limiter.running("a") == 2 and limiter.running("b") == 1


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
    access.store.create("admin")  # type: ignore[union-attr]
    assert exposure_problem(settings, access) is None
    assert exposure_problem(Settings(data_dir=tmp_path, host="0.0.0.0", api_keys=["k"]),
                            AccessControl(None, ["k"])) is None
    loopback = Settings(data_dir=tmp_path / "other")
    assert exposure_problem(loopback, AccessControl.from_settings(loopback)) is None

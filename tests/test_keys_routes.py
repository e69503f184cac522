"""Managing keys over REST (``/breathvoice/keys``) with the app in process (tone engine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from breathvoice.app import create_app
from breathvoice.engines.registry import ENGINES
from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from tone_engine import ToneEngine

KEYS = "/breathvoice/keys"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setitem(ENGINES, "tone", lambda _: ToneEngine())
    with TestClient(create_app(Settings(data_dir=tmp_path, engine="tone"))) as test_client:
        yield test_client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    keys = KeyStore.open(Settings(data_dir=tmp_path))
    yield keys
    keys.close()


def speak(client: TestClient, key: str, text: str = "Hello there.") -> Any:
    return client.post("/breathvoice/single-tts", headers={"xi-api-key": key}, json={
        "text": text, "filename": "Demo_greeting.wav", "voice_group_id": "Demo"})


def test_a_synthesize_key_may_not_manage_keys_and_changes_nothing(
        client: TestClient, store: KeyStore) -> None:
    plain, _ = store.create("synthesize")
    before = store.list(include_revoked=True)
    headers = {"xi-api-key": plain}
    for response in (client.post(KEYS, headers=headers, json={"scope": "admin"}),
                     client.get(KEYS, headers=headers),
                     client.delete(f"{KEYS}/{before[0].id}", headers=headers)):
        assert response.status_code == 403
        assert response.json()["success"] is False
        assert response.json()["code"] == "FORBIDDEN"
    assert client.get(KEYS).status_code == 401
    assert store.list(include_revoked=True) == before


def test_an_admin_creates_lists_and_revokes_a_key(client: TestClient, store: KeyStore) -> None:
    admin = {"api-key": store.create("admin")[0]}
    created = client.post(KEYS, headers=admin, json={
        "scope": "synthesize", "name": "narrator", "char_quota": 100, "max_concurrent": 2})
    assert created.status_code == 201
    secret = created.json()["key"]
    info = created.json()["info"]
    assert secret.startswith(info["starts_with"])
    assert (info["name"], info["scope"], info["quota_remaining"], info["revoked"]) == (
        "narrator", "synthesize", 100, False)

    spoken = speak(client, secret)
    assert spoken.status_code == 200
    assert spoken.headers["character-quota-remaining"] == "88"

    listing = client.get(KEYS, headers=admin)
    assert listing.status_code == 200
    assert secret not in listing.text
    mine = [k for k in listing.json()["keys"] if k["id"] == info["id"]]
    assert listing.json()["count"] == len(listing.json()["keys"]) == 2
    assert mine[0]["chars_used"] == 12 and mine[0]["quota_remaining"] == 88
    assert mine[0]["max_concurrent"] == 2 and mine[0]["created_at"] == info["created_at"]

    revoked = client.delete(f"{KEYS}/{info['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["info"]["revoked"] is True
    assert revoked.json()["info"]["revoked_at"] is not None
    refused = speak(client, secret)
    assert refused.status_code == 401
    assert refused.json()["code"] == "INVALID_API_KEY"
    assert [k["id"] for k in client.get(KEYS, headers=admin).json()["keys"]] == [
        store.list()[0].id]
    everything = client.get(KEYS, headers=admin, params={"include_revoked": "true"}).json()
    assert {k["id"]: k["revoked"] for k in everything["keys"]}[info["id"]] is True
    assert store.find(secret) is None


def test_a_created_admin_key_can_manage_keys_and_a_bad_request_creates_nothing(
        client: TestClient, store: KeyStore) -> None:
    admin = {"xi-api-key": store.create("admin")[0]}
    second = client.post(KEYS, headers=admin, json={"scope": "admin"}).json()["key"]
    assert client.get(KEYS, headers={"authorization": f"Bearer {second}"}).status_code == 200
    for bad in ({"scope": "root"}, {"char_quota": -1}, {"max_concurrent": 0},
                {"name": "a\nb"}, {"name": "x" * 101}):
        refused = client.post(KEYS, headers=admin, json=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["code"] == "INVALID_REQUEST"
    assert len(store.list()) == 2


def test_revoking_an_unknown_key_is_404_in_the_seed_shape(client: TestClient,
                                                          store: KeyStore) -> None:
    admin = {"xi-api-key": store.create("admin")[0]}
    for key_id in ("0123456789ab", "not a key id"):
        missing = client.delete(f"{KEYS}/{key_id}", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["success"] is False and missing.json()["code"] == "NOT_FOUND"


def test_the_first_key_made_on_an_open_loopback_server_turns_keys_on(
        client: TestClient) -> None:
    assert speak(client, "anything").status_code == 200  # no key yet: everyone is let in
    created = client.post(KEYS, json={"scope": "admin", "name": "owner"})
    assert created.status_code == 201
    assert speak(client, "anything").status_code == 401
    assert speak(client, created.json()["key"]).status_code == 200

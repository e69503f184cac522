"""Revoking every key never opens the server: access fails closed.

An admin who revokes keys over the API cannot revoke the last admin key (409, with the
reason), and keys revoked on the host leave every API route refusing anonymous callers,
key creation included, until ``breathvoice keys create`` runs on the host.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from breathvoice.cli import app as cli
from breathvoice.keys import KeyStore
from security.conftest import WS_BASE, Secured

KEYS = "/breathvoice/keys"


def test_the_last_admin_key_cannot_be_revoked_over_the_api(
        secured: Secured, key_store: KeyStore) -> None:
    first, record = key_store.create("admin", name="first")
    with secured() as client:
        admin = {"xi-api-key": first}
        refused = client.delete(f"{KEYS}/{record.id}", headers=admin)
        assert refused.status_code == 409
        body = refused.json()
        assert body["success"] is False and body["code"] == "CONFLICT"
        assert "last admin key" in body["error"]
        assert client.get("/breathvoice/voice-groups", headers=admin).status_code == 200

        created = client.post(KEYS, headers=admin, json={"scope": "admin", "name": "second"})
        assert created.status_code == 201
        second, second_id = created.json()["key"], created.json()["info"]["id"]
        assert client.delete(f"{KEYS}/{record.id}", headers=admin).status_code == 200
        assert client.get("/breathvoice/voice-groups", headers=admin).status_code == 401
        assert client.delete(f"{KEYS}/{second_id}",
                             headers={"xi-api-key": second}).status_code == 409
        assert client.get("/breathvoice/voice-groups").status_code == 401

        # Other keys go as before.
        made = client.post(KEYS, headers={"xi-api-key": second}, json={"scope": "synthesize"})
        speaker, speaker_id = made.json()["key"], made.json()["info"]["id"]
        assert client.delete(f"{KEYS}/{speaker_id}",
                             headers={"xi-api-key": second}).status_code == 200
        assert client.get("/breathvoice/voice-groups",
                          headers={"xi-api-key": speaker}).status_code == 401


def test_with_every_key_revoked_on_the_host_nothing_is_open(
        secured: Secured, key_store: KeyStore, tmp_path: Path) -> None:
    admin, record = key_store.create("admin")
    _, other = key_store.create("synthesize")
    with secured() as client:
        assert client.get("/breathvoice/voice-groups",
                          headers={"xi-api-key": admin}).status_code == 200
        key_store.revoke(record.id)  # as `breathvoice keys revoke` does on the host
        key_store.revoke(other.id)
        assert client.get("/breathvoice/voice-groups").status_code == 401
        assert client.post("/breathvoice/single-tts", json={
            "text": "hi", "filename": "a.wav", "voice_group_id": "Demo"}).status_code == 401
        minted = client.post(KEYS, json={"scope": "admin"})
        assert minted.status_code == 401 and "key" not in minted.json()
        with client.websocket_connect(f"{WS_BASE}/v1/text-to-speech/Demo/multi-stream-input") as ws:
            assert ws.receive_json()["error"] == "INVALID_API_KEY"
        assert client.get("/breathvoice/health").status_code == 200

        result = CliRunner().invoke(cli, ["keys", "create", "--scope", "admin",
                                          "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        fresh = result.stdout.strip().splitlines()[-1]
        assert client.get("/breathvoice/voice-groups",
                          headers={"xi-api-key": fresh}).status_code == 200
        assert client.get("/breathvoice/voice-groups").status_code == 401


def test_a_server_whose_keys_were_all_revoked_starts_closed(
        secured: Secured, key_store: KeyStore) -> None:
    _, record = key_store.create("admin")
    key_store.revoke(record.id)
    with secured() as client:
        assert client.get("/breathvoice/voice-groups").status_code == 401
        assert client.post(KEYS, json={"scope": "admin"}).status_code == 401

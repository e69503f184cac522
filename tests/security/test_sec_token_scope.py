"""A single-use token makes one synthesis and nothing else, whatever key minted it.

It cannot mint a token, manage keys or upload (403), even when an admin key minted it;
it still opens a socket or makes one synthesis request, once.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from breathvoice.keys import KeyStore
from security.conftest import WS_BASE, Secured
from zips import good_zip

SINGLE = {"text": "Hello there.", "filename": "Demo_a.wav", "voice_group_id": "Demo"}


def mint(client: TestClient, key: str) -> str:
    r = client.post("/breathvoice/tokens", headers={"xi-api-key": key})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


@pytest.mark.parametrize("scope", ["admin", "synthesize"])
def test_a_token_cannot_reach_tokens_keys_or_uploads(
        secured: Secured, key_store: KeyStore, scope: str) -> None:
    key, record = key_store.create(scope)  # type: ignore[arg-type]
    with secured() as client:
        attempts = [
            ("post", "/breathvoice/tokens", {}),
            ("post", "/breathvoice/keys", {"json": {"scope": "admin"}}),
            ("get", "/breathvoice/keys", {}),
            ("delete", f"/breathvoice/keys/{record.id}", {}),
            ("post", "/breathvoice/upload-voice-group",
             {"files": {"file": ("Demo.zip", good_zip("Demo"), "application/zip")},
              "data": {"voice_group_id": "Demo", "overwrite": "true"}}),
        ]
        for method, path, kwargs in attempts:
            r = client.request(method, path, params={"token": mint(client, key)}, **kwargs)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["code"] == "FORBIDDEN" and "key" not in r.json()
        assert key_store.get(record.id).revoked_at is None
        assert len(key_store.list()) == 1
        speaks_once(client, key)
        opens_one_socket(client, key)


def speaks_once(client: TestClient, key: str) -> None:
    """A token makes one synthesis request; used, it is refused."""
    token = mint(client, key)
    first = client.post("/breathvoice/single-tts", params={"token": token}, json=SINGLE)
    assert first.status_code == 200 and first.json()["success"] is True
    again = client.post("/breathvoice/single-tts", params={"token": token}, json=SINGLE)
    assert again.status_code == 401
    speech = client.post("/v1/audio/speech", params={"token": mint(client, key)},
                         json={"model": "tts-1", "voice": "Demo", "input": "Hi there."})
    assert speech.status_code == 200 and len(speech.content) > 1000


def opens_one_socket(client: TestClient, key: str) -> None:
    """A token opens one socket that speaks; used, it is refused."""
    path = f"{WS_BASE}/v1/text-to-speech/Demo/multi-stream-input"
    token = mint(client, key)
    with client.websocket_connect(f"{path}?token={token}") as ws:
        ws.send_text(json.dumps({"text": "Hello there.", "context_id": "a", "flush": True}))
        assert "audio" in ws.receive_json()
    with client.websocket_connect(f"{path}?token={token}") as ws:
        assert ws.receive_json()["error"] == "INVALID_API_KEY"

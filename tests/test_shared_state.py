"""Two servers ("nodes") on one database and one data dir, on SQLite and on PostgreSQL:
keys, quotas, concurrency limits, tokens and voice groups are one state for both."""

from __future__ import annotations

import json
from pathlib import Path

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import AppFactory
from test_keys_api import V1, speak, tts, upload
from tone_engine import ToneEngine


def test_two_nodes_share_keys_quotas_slots_tokens_and_groups(
        app: AppFactory, db_url: str, tmp_path: Path) -> None:
    store = KeyStore.open(Settings(data_dir=tmp_path, database_url=db_url))
    admin, _ = store.create("admin")
    store.close()
    engine = ToneEngine(seconds_per_chunk=0.2)
    with app(engine, database_url=db_url) as first, app(engine, database_url=db_url) as second:
        made = first.post("/breathvoice/keys", headers={"api-key": admin},
                          json={"scope": "synthesize", "char_quota": 30, "max_concurrent": 1})
        assert made.status_code == 201
        key, key_id = made.json()["key"], made.json()["info"]["id"]

        # a quota is one count, whichever node speaks
        assert tts(first, key, "x" * 11 + ".").headers["character-quota-remaining"] == "18"
        assert tts(second, key, "y" * 11 + ".").headers["character-quota-remaining"] == "6"
        assert tts(first, key, "z" * 11 + ".").status_code == 402

        # a generation on one node holds the key's only slot on both
        bigger = first.post("/breathvoice/keys", headers={"api-key": admin},
                            json={"scope": "synthesize", "max_concurrent": 1}).json()["key"]
        with second.websocket_connect(V1, headers={"xi-api-key": bigger}) as ws:
            speak(ws, "a", "One, two, three.")
            assert "audio" in json.loads(ws.receive_text())
            refused = tts(first, bigger, "Hi.")
            assert refused.status_code == 429
            assert refused.headers["current-concurrent-requests"] == "1"
            while not json.loads(ws.receive_text()).get("isFinal"):
                pass
        assert tts(first, bigger, "Hi.").status_code == 200

        # a token minted on one node opens a socket on the other, once
        token = first.post("/breathvoice/tokens", headers={"xi-api-key": bigger}).json()["token"]
        with second.websocket_connect(f"{V1}?token={token}") as ws:
            ws.send_text(json.dumps({"text": "Hi.", "context_id": "a", "flush": True}))
            assert "audio" in json.loads(ws.receive_text())

        # a group uploaded on one node is spoken by the other; a revoked key fails on both
        assert upload(first, admin, "Fresh").status_code in (200, 201)
        assert second.get("/breathvoice/voice-groups/Fresh",
                          headers={"api-key": admin}).status_code == 200
        assert first.delete(f"/breathvoice/keys/{key_id}",
                            headers={"api-key": admin}).status_code == 200
        assert tts(second, key, "Hi.").status_code == 401

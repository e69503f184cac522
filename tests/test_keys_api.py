"""Keys, scopes, quotas and limits through the real app in process (tone engine).

Each test creates keys in the data folder's database, as ``breathvoice keys create`` does,
then calls the REST routes and both WebSocket paths the way a client would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import AppFactory, socket_refusal
from tone_engine import ToneEngine
from zips import good_zip

V1 = "/v1/text-to-speech/Demo/multi-stream-input"
ENTERPRISE = "/enterprise/v1/tts/Demo/websocket/multi"
SINGLE = "/breathvoice/single-tts"
UPLOAD = "/breathvoice/upload-voice-group"


class Keys:
    def __init__(self, data_dir: Path) -> None:
        self.store = KeyStore.open(Settings(data_dir=data_dir))

    def make(self, scope: str = "synthesize", **kwargs: Any) -> str:
        secret, _ = self.store.create(scope, **kwargs)  # type: ignore[arg-type]
        return secret


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


def tts(client: TestClient, key: str | None, text: str = "Hello there.",
        header: str = "xi-api-key") -> Any:
    headers = {} if key is None else {header: key if header != "authorization"
                                      else f"Bearer {key}"}
    return client.post(SINGLE, headers=headers, json={
        "text": text, "filename": "Demo_greeting.wav", "voice_group_id": "Demo"})


def upload(client: TestClient, key: str, group: str = "Fresh") -> Any:
    return client.post(UPLOAD, headers={"api-key": key},
                       files={"file": (f"{group}.zip", good_zip(group), "application/zip")},
                       data={"voice_group_id": group})


def speak(ws: Any, context: str, text: str) -> None:
    """Send a context's whole text and close it, so it ends with ``isFinal``."""
    ws.send_text(json.dumps({"text": text, "context_id": context, "flush": True}))
    ws.send_text(json.dumps({"context_id": context, "close_context": True}))


@pytest.mark.parametrize("header", ["xi-api-key", "api-key", "authorization"])
def test_every_key_header_is_accepted_and_a_missing_key_is_401(
        app: AppFactory, keys: Keys, header: str) -> None:
    key = keys.make()
    with app() as client:
        assert tts(client, key, header=header).status_code == 200
        refused = tts(client, None)
        assert refused.status_code == 401
        assert refused.json()["code"] == "INVALID_API_KEY"
        assert tts(client, key + "x", header=header).status_code == 401
        assert client.get("/breathvoice/health").status_code == 200  # stays public


def test_uploads_need_the_admin_scope_and_a_refusal_changes_nothing(
        app: AppFactory, keys: Keys, tmp_path: Path) -> None:
    plain, admin = keys.make("synthesize"), keys.make("admin")
    with app() as client:
        refused = upload(client, plain)
        assert refused.status_code == 403
        assert refused.json() == {"success": False, "error": refused.json()["error"],
                                  "code": "FORBIDDEN", "detail": refused.json()["error"]}
        assert not (tmp_path / "voices" / "Fresh").exists()
        assert upload(client, admin).status_code == 200
        listed = client.get("/breathvoice/voice-groups", headers={"api-key": plain}).json()
        assert "Fresh" in listed["voice_groups"]


def test_static_keys_from_the_environment_still_work_as_admins(app: AppFactory) -> None:
    with app(api_keys=["static-key-123"]) as client:
        assert upload(client, "static-key-123").status_code == 200
        assert tts(client, "static-key-123").status_code == 200
        assert tts(client, "other").status_code == 401


@pytest.mark.parametrize("path", [V1, ENTERPRISE])
def test_sockets_refuse_a_missing_key_with_1008(app: AppFactory, keys: Keys, path: str) -> None:
    keys.make()
    with app() as client:
        message, code = socket_refusal(client, path)
        assert (message["error"], code) == ("INVALID_API_KEY", 1008)
        message, code = socket_refusal(client, path, **{"xi-api-key": "bv_wrong"})
        assert (message["error"], code) == ("INVALID_API_KEY", 1008)


def test_quota_is_shown_charged_and_then_refused_with_402(app: AppFactory, keys: Keys) -> None:
    key = keys.make(char_quota=20)
    with app() as client:
        first = tts(client, key, "Hello there.")  # 12 characters
        assert first.status_code == 200
        assert first.headers["character-quota-remaining"] == "8"
        refused = tts(client, key, "Hello there.")
        assert refused.status_code == 402
        assert refused.json()["code"] == "INSUFFICIENT_QUOTA"
        assert refused.headers["character-quota-remaining"] == "8"
        bad = client.post(SINGLE, headers={"xi-api-key": key},
                          json={"text": "abc", "filename": "x.wav", "voice_group_id": "Nobody"})
        assert bad.status_code == 404
        assert bad.headers["character-quota-remaining"] == "8"  # a refused request is refunded
        openai = client.post("/v1/audio/speech", headers={"authorization": f"Bearer {key}"},
                             json={"model": "tts-1", "input": "x" * 9, "voice": "Demo"})
        assert openai.status_code == 402
        assert openai.json()["error"]["type"] == "insufficient_quota"


@pytest.mark.parametrize("path", [V1, ENTERPRISE])
def test_a_socket_past_its_quota_gets_insufficient_quota(
        app: AppFactory, keys: Keys, path: str) -> None:
    key = keys.make(char_quota=10)
    with app() as client:
        with client.websocket_connect(path, headers={"xi-api-key": key}) as ws:
            speak(ws, "a", "Hi.")
            while not json.loads(ws.receive_text()).get("isFinal"):
                pass
            speak(ws, "b", "This is far too long.")
            messages = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    messages.append(json.loads(ws.receive_text()))
        assert closed.value.code == 1008
        assert any(m.get("error") == "INSUFFICIENT_QUOTA" for m in messages)
        message, code = socket_refusal(client, path, **{"xi-api-key": keys.make(char_quota=0)})
        assert (message["error"], code) == ("INSUFFICIENT_QUOTA", 1008)


def test_over_the_concurrency_limit_is_429_with_both_headers(app: AppFactory,
                                                             keys: Keys) -> None:
    key = keys.make(max_concurrent=1)
    slow = ToneEngine(seconds_per_chunk=0.2)
    with app(engine=slow) as client, client.websocket_connect(
            V1, headers={"xi-api-key": key}) as ws:
        assert tts(client, key, "Hi.").status_code == 200  # an idle socket holds no slot
        speak(ws, "a", "One, two, three.")
        assert "audio" in json.loads(ws.receive_text())  # generating now
        refused = tts(client, key, "Hi.")
        assert refused.status_code == 429
        assert refused.json()["code"] == "TOO_MANY_CONCURRENT_REQUESTS"
        assert refused.headers["current-concurrent-requests"] == "1"
        assert refused.headers["maximum-concurrent-requests"] == "1"
        while not json.loads(ws.receive_text()).get("isFinal"):
            pass
        assert tts(client, key, "Hi.").status_code == 200  # the slot came back


def test_a_second_generating_context_over_the_limit_gets_an_error(app: AppFactory,
                                                                 keys: Keys) -> None:
    key = keys.make(max_concurrent=1)
    with app(engine=ToneEngine(seconds_per_chunk=0.15)) as client, client.websocket_connect(
            ENTERPRISE, headers={"api-key": key}) as ws:
        speak(ws, "a", "One, two, three.")
        speak(ws, "b", "Four.")
        messages = []
        while not (messages and messages[-1].get("isFinal")
                   and messages[-1].get("contextId") == "a"):
            messages.append(json.loads(ws.receive_text()))
    errors = [m for m in messages if "error" in m]
    assert [(m["error"], m.get("contextId")) for m in errors] == [
        ("TOO_MANY_CONCURRENT_REQUESTS", "b")]


def test_a_browser_token_opens_one_socket(app: AppFactory, keys: Keys) -> None:
    key = keys.make()
    with app() as client:
        minted = client.post("/breathvoice/tokens", headers={"xi-api-key": key})
        assert minted.status_code == 200
        token = minted.json()["token"]
        assert key not in token
        with client.websocket_connect(f"{V1}?token={token}") as ws:
            ws.send_text(json.dumps({"text": "Hi.", "context_id": "a", "flush": True}))
            assert "audio" in json.loads(ws.receive_text())
        message, code = socket_refusal(client, f"{V1}?token={token}")
        assert (message["error"], code) == ("INVALID_API_KEY", 1008)
        assert client.post("/breathvoice/tokens").status_code == 401


def test_oversized_bodies_are_refused_before_they_are_read(app: AppFactory) -> None:
    with app(max_request_body_bytes=2048) as client:
        refused = client.post(SINGLE, content=b"{" + b" " * 4096 + b"}",
                              headers={"content-type": "application/json"})
        assert refused.status_code == 413
        assert refused.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert refused.json()["success"] is False


def test_quota_is_not_overspent_by_simultaneous_requests(app: AppFactory, keys: Keys) -> None:
    key = keys.make(char_quota=30)
    statuses: list[int] = []
    with app() as client:
        def call() -> None:
            statuses.append(tts(client, key, "x" * 10 + ".").status_code)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200, 200, 402, 402, 402, 402]
    assert keys.store.list()[0].chars_used == 22

"""Quota is charged on what is spoken, whatever the request's Content-Type spelling.

A key with a 40-character quota sends its text to every synthesis route the way a client
trying to dodge the count would: ``application/JSON``, ``Application/Json;
charset=UTF-8``. The server parses those bodies as JSON, so it must count them too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import AppFactory

LONG = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen"
SHORT = "Hello there, my quiet friend!."
QUOTA = 40
SPELLINGS = ["application/JSON", "Application/Json; charset=UTF-8", "application/json"]


def _single(text: str) -> tuple[str, dict[str, Any]]:
    return "/breathvoice/single-tts", {"text": text, "filename": "quota.wav",
                                       "voice_group_id": "Demo", "return_audio": True}


def _batch(text: str) -> tuple[str, dict[str, Any]]:
    return "/breathvoice/batch-tts", {"requests": [
        {"text": text, "filename": "quota.wav", "voice_group_id": "Demo"}], "return_audio": True}


def _openai(text: str) -> tuple[str, dict[str, Any]]:
    return "/v1/audio/speech", {"input": text, "voice": "Demo", "response_format": "wav"}


def _elevenlabs(text: str) -> tuple[str, dict[str, Any]]:
    return "/v1/text-to-speech/Demo?output_format=pcm_24000", {"text": text}


def _elevenlabs_stream(text: str) -> tuple[str, dict[str, Any]]:
    return "/v1/text-to-speech/Demo/stream?output_format=pcm_24000", {"text": text}


ROUTES = {"single-tts": _single, "batch-tts": _batch, "openai": _openai,
          "elevenlabs": _elevenlabs, "elevenlabs-stream": _elevenlabs_stream}


def _used(data_dir: Path, key_id: str) -> int:
    store = KeyStore.open(Settings(data_dir=data_dir))
    try:
        return store.get(key_id).chars_used
    finally:
        store.close()


def _quota_key(data_dir: Path) -> tuple[str, str]:
    store = KeyStore.open(Settings(data_dir=data_dir))
    try:
        secret, record = store.create("synthesize", char_quota=QUOTA)
    finally:
        store.close()
    return secret, record.id


def _post(client: Any, route: str, text: str, key: str, content_type: str) -> Any:
    path, body = ROUTES[route](text)
    return client.post(path, content=json.dumps(body).encode("utf-8"),
                       headers={"xi-api-key": key, "content-type": content_type})


@pytest.mark.parametrize("content_type", SPELLINGS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_text_over_the_quota_is_refused_whatever_the_content_type(
        app: AppFactory, tmp_path: Path, route: str, content_type: str) -> None:
    assert len(LONG) == 80
    key, key_id = _quota_key(tmp_path)
    with app() as client:
        refused = _post(client, route, LONG, key, content_type)
        assert refused.status_code == 402, refused.text[:300]
        assert refused.headers["character-quota-remaining"] == str(QUOTA)
        assert _used(tmp_path, key_id) == 0


@pytest.mark.parametrize("route", list(ROUTES))
def test_text_within_the_quota_is_spoken_and_charged_exactly(
        app: AppFactory, tmp_path: Path, route: str) -> None:
    text = SHORT
    assert len(text) == 30
    key, key_id = _quota_key(tmp_path)
    with app() as client:
        spoken = _post(client, route, text, key, "Application/Json; charset=UTF-8")
        assert spoken.status_code == 200, spoken.text[:300]
        assert len(spoken.content) > 1000  # audio (or the JSON describing it) came back
        assert spoken.headers["character-quota-remaining"] == str(QUOTA - 30)
        assert _used(tmp_path, key_id) == 30
        # Ten characters are left: the same text again no longer fits.
        again = _post(client, route, text, key, "application/JSON")
        assert again.status_code == 402
        assert _used(tmp_path, key_id) == 30


def test_a_batch_is_charged_only_for_the_items_it_speaks(
        app: AppFactory, tmp_path: Path) -> None:
    key, key_id = _quota_key(tmp_path)
    body = {"requests": [
        {"text": "Twelve chars", "filename": "a.wav", "voice_group_id": "Demo"},
        {"text": "Missing group", "filename": "b.wav", "voice_group_id": "Nobody"},
        {"text": "", "filename": "c.wav", "voice_group_id": "Demo"},
    ]}
    with app() as client:
        answer = client.post("/breathvoice/batch-tts", content=json.dumps(body),
                             headers={"xi-api-key": key, "content-type": "APPLICATION/JSON"})
        assert answer.status_code == 200
        assert [r["success"] for r in answer.json()["results"]] == [True, False, False]
        assert _used(tmp_path, key_id) == len("Twelve chars")
        assert answer.headers["character-quota-remaining"] == str(QUOTA - 12)


def test_a_refused_single_tts_still_reports_its_failed_result(
        app: AppFactory, tmp_path: Path) -> None:
    key, key_id = _quota_key(tmp_path)
    with app() as client:
        refused = _post(client, "single-tts", LONG, key, "application/JSON")
    assert refused.status_code == 402
    body = refused.json()
    assert body["success"] is False and body["code"] == "INSUFFICIENT_QUOTA"
    assert body["result"]["status"] == "failed"
    assert body["result"]["filename"] == "quota.wav" and body["result"]["text"] == LONG
    assert _used(tmp_path, key_id) == 0

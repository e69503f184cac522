"""Bad input over HTTP: true statuses, the seed's error shape, nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from zips import hostile_zips

pytestmark = pytest.mark.slow


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its hash (what 'unchanged on disk' means)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def everything_but_outputs(data_dir: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(data_dir).items() if not k.startswith("outputs/")}


@pytest.mark.parametrize("filename", [
    "../x.wav", "../../etc/passwd.wav", "/tmp/abs.wav", "a/b.wav", "a\\b.wav", "..",
    "evil\x00.wav", "line\nbreak.wav", "notes.txt", "script.py", "", "   ", ".hidden.wav",
    "x" * 300 + ".wav", "C:evil.wav",
])
def test_bad_filename_is_refused_and_nothing_is_written(live_server, filename: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(live_server.data_dir)
    r = requests.post(f"{live_server.base_url}/breathvoice/single-tts",
                      json={"text": "你好", "filename": filename, "voice_group_id": "Demo"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["error"]
    assert body["result"]["status"] == "failed" and body["result"]["error"]
    assert str(live_server.data_dir) not in r.text
    assert snapshot(live_server.data_dir) == before
    assert not (live_server.data_dir.parent / "x.wav").exists()


def test_unknown_voice_group_is_404_in_the_seed_shape(live_server) -> None:  # type: ignore[no-untyped-def]
    r = requests.post(f"{live_server.base_url}/breathvoice/single-tts",
                      json={"text": "你好，欢迎来到我们的世界！", "filename": "greeting_001.wav",
                            "voice_group_id": "InvalidName"})
    assert r.status_code == 404
    body = r.json()
    assert body["success"] is False
    assert body["error"] == "Voice group 'InvalidName' not found"
    assert body["result"] == {"filename": "greeting_001.wav", "text": "你好，欢迎来到我们的世界！",
                              "status": "failed", "error": body["error"]}


@pytest.mark.parametrize("payload", [
    {"filename": "a.wav", "voice_group_id": "Demo"},
    {"text": "hi", "voice_group_id": "Demo"},
    {"text": "", "filename": "a.wav", "voice_group_id": "Demo"},
    {"text": "字" * 1001, "filename": "a.wav", "voice_group_id": "Demo"},
    {"text": "hi", "filename": "a.wav", "voice_group_id": "Demo", "speed": 9},
    {"text": "hi", "filename": "a.wav", "voice_group_id": "Demo", "emotion": "nope"},
])
def test_bad_single_requests_are_400(live_server, payload: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    r = requests.post(f"{live_server.base_url}/breathvoice/single-tts", json=payload)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and r.json()["result"]["status"] == "failed"


def test_batch_limits(live_server) -> None:  # type: ignore[no-untyped-def]
    url = f"{live_server.base_url}/breathvoice/batch-tts"
    item = {"text": "hi", "filename": "a.wav", "voice_group_id": "Demo"}
    too_many = requests.post(url, json={"requests": [item] * 101})
    assert too_many.status_code == 400 and "100" in too_many.json()["error"]
    assert requests.post(url, json={"requests": []}).status_code == 400
    assert requests.post(url, json={"nothing": 1}).status_code == 400
    assert requests.post(url, data=b"{not json", headers={
        "Content-Type": "application/json"}).status_code == 400


def test_batch_reports_every_bad_item_and_makes_the_rest(live_server) -> None:  # type: ignore[no-untyped-def]
    url = f"{live_server.base_url}/breathvoice/batch-tts"
    items = [
        {"text": "好的。", "filename": "greeting_ok.wav", "voice_group_id": "Demo"},
        {"text": "好的。", "filename": "../escape.wav", "voice_group_id": "Demo"},
        {"text": "好的。", "filename": "b.wav", "voice_group_id": "Nobody"},
        {"filename": "c.wav", "voice_group_id": "Demo"},
        {"text": "好的。", "filename": "d.wav"},
    ]
    data = requests.post(url, json={"requests": items}).json()
    assert data["total_count"] == 5 and data["successful_count"] == 1
    assert [r["success"] for r in data["results"]] == [True, False, False, False, False]
    assert [r["filename"] for r in data["results"]] == [i["filename"] for i in items]
    assert not (live_server.data_dir / "escape.wav").exists()


def test_download_refuses_traversal(live_server) -> None:  # type: ignore[no-untyped-def]
    base = f"{live_server.base_url}/breathvoice/outputs"
    for path in ("Demo/..%2F..%2Fvoices%2FDemo%2Fmanifest.json", "..%2Fvoices/manifest.json",
                 "Demo/%2e%2e", "Demo/nothing.wav"):
        r = requests.get(f"{base}/{path}")
        assert r.status_code == 404, (path, r.status_code)


def test_hostile_zips_get_4xx_and_change_nothing(live_server) -> None:  # type: ignore[no-untyped-def]
    url = f"{live_server.base_url}/breathvoice/upload-voice-group"
    for name, blob in hostile_zips().items():
        before = everything_but_outputs(live_server.data_dir)
        r = requests.post(url, files={"file": (f"{name}.zip", blob)},
                          data={"voice_group_id": "Hostile", "overwrite": "true"})
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        body = r.json()
        assert body["success"] is False and body["error"], name
        assert str(live_server.data_dir) not in r.text and "Traceback" not in r.text
        assert everything_but_outputs(live_server.data_dir) == before, name
    groups = requests.get(f"{live_server.base_url}/breathvoice/voice-groups").json()
    assert "Hostile" not in groups["voice_groups"]


@pytest.mark.parametrize("group_id", ["../x", "a/b", "", "x" * 200, "Demo\x00"])
def test_bad_voice_group_ids_on_upload(live_server, group_id: str) -> None:  # type: ignore[no-untyped-def]
    from zips import good_zip

    before = everything_but_outputs(live_server.data_dir)
    r = requests.post(f"{live_server.base_url}/breathvoice/upload-voice-group",
                      files={"file": ("g.zip", good_zip("G"))},
                      data={"voice_group_id": group_id})
    assert r.status_code == 400, r.text
    assert everything_but_outputs(live_server.data_dir) == before


def test_existing_group_without_overwrite_is_409(live_server) -> None:  # type: ignore[no-untyped-def]
    from zips import good_zip

    before = everything_but_outputs(live_server.data_dir)
    r = requests.post(f"{live_server.base_url}/breathvoice/upload-voice-group",
                      files={"file": ("Demo.zip", good_zip("Demo"))},
                      data={"voice_group_id": "Demo"})
    assert r.status_code == 409
    assert everything_but_outputs(live_server.data_dir) == before


def test_upload_over_the_size_cap_is_413(tmp_path: Path) -> None:
    from conftest import start_server, stop_server, tone_serve_command

    # the cap is checked before any engine work: the tone engine starts in a moment
    server = start_server(tmp_path / "data", tmp_path / "log", tone_serve_command(),
                          BREATHVOICE_ENGINE="tone", BREATHVOICE_MAX_UPLOAD_BYTES="1000",
                          BREATHVOICE_CREATE_DEMO_GROUP="false")
    try:
        r = requests.post(f"{server.base_url}/breathvoice/upload-voice-group",
                          files={"file": ("big.zip", b"\0" * 5000)},
                          data={"voice_group_id": "Big"})
        assert r.status_code == 413 and r.json()["success"] is False
        assert not (tmp_path / "data" / "voices" / "Big").exists()
    finally:
        stop_server(server)


def test_keys_guard_the_breathvoice_routes(live_server_with_keys) -> None:  # type: ignore[no-untyped-def]
    base, key = live_server_with_keys.base_url, live_server_with_keys.api_key
    assert requests.get(f"{base}/breathvoice/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"api-key": "wrong"}):
        r = requests.get(f"{base}/breathvoice/voice-groups", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["success"] is False and r.json()["code"] == "INVALID_API_KEY"
    for headers in ({"Authorization": f"Bearer {key}"}, {"api-key": key}, {"xi-api-key": key}):
        r = requests.get(f"{base}/breathvoice/voice-groups", headers=headers)
        assert r.status_code == 200, headers
    r = requests.post(f"{base}/breathvoice/single-tts",
                      json={"text": "你好", "filename": "a.wav", "voice_group_id": "Demo"})
    assert r.status_code == 401 and r.json()["result"]["status"] == "failed"

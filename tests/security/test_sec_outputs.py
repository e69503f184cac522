"""Generated files belong to the key that made them, and their storage is bounded.

Two synthesize keys, A and B, and an admin key call the app the way clients do: B must
neither download nor overwrite A's files, the admin sees both; old files and files over
the byte cap are removed; a full disk gives 507, with nothing half-written left behind.
"""

from __future__ import annotations

import base64
import errno
import os
import time
from pathlib import Path
from typing import Any

import pytest

from audio_checks import check_wav
from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import AppFactory

SINGLE = "/breathvoice/single-tts"


def _make_keys(data_dir: Path) -> dict[str, str]:
    store = KeyStore.open(Settings(data_dir=data_dir))
    try:
        return {"A": store.create("synthesize")[0], "B": store.create("synthesize")[0],
                "admin": store.create("admin")[0]}
    finally:
        store.close()


def _speak(client: Any, key: str | None, text: str, filename: str) -> Any:
    headers = {} if key is None else {"xi-api-key": key}
    return client.post(SINGLE, headers=headers, json={
        "text": text, "filename": filename, "voice_group_id": "Demo", "return_audio": True})


def _made(client: Any, key: str | None, text: str, filename: str) -> dict[str, Any]:
    answer = _speak(client, key, text, filename)
    assert answer.status_code == 200, answer.text[:300]
    result: dict[str, Any] = answer.json()["result"]
    return result


def _get(client: Any, url: str, key: str | None) -> Any:
    return client.get(url, headers={} if key is None else {"xi-api-key": key})


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "outputs").rglob("*") if p.is_file())


def test_another_key_gets_404_for_a_keys_file(app: AppFactory, tmp_path: Path) -> None:
    keys = _make_keys(tmp_path)
    with app() as client:
        mine = _made(client, keys["A"], "This one is private.", "private.wav")
        own = _get(client, mine["audio_url"], keys["A"])
        assert own.status_code == 200
        check_wav(own.content)
        stolen = _get(client, mine["audio_url"], keys["B"])
        assert stolen.status_code == 404
        assert stolen.json()["success"] is False and stolen.json()["code"] == "NOT_FOUND"
        # Nor by the path without the owner, nor with B's own id put in.
        assert _get(client, "/breathvoice/outputs/Demo/private.wav", keys["B"]).status_code == 404
        assert "private" not in stolen.text


def test_the_same_filename_from_two_keys_makes_two_intact_files(
        app: AppFactory, tmp_path: Path) -> None:
    keys = _make_keys(tmp_path)
    with app() as client:
        a = _made(client, keys["A"], "Alpha speaks a fairly long sentence here.", "same.wav")
        b = _made(client, keys["B"], "Beta is short.", "same.wav")
        assert a["output_path"] != b["output_path"]
        assert a["audio_url"] != b["audio_url"]
        for result, key in ((a, keys["A"]), (b, keys["B"])):
            served = _get(client, result["audio_url"], key)
            assert served.status_code == 200
            assert served.content == base64.b64decode(result["audio_data"])
            check_wav(served.content)
        assert a["audio_data"] != b["audio_data"]
        # The admin sees both, each intact.
        for result in (a, b):
            seen = _get(client, result["audio_url"], keys["admin"])
            assert seen.status_code == 200
            assert seen.content == base64.b64decode(result["audio_data"])
        # B cannot reach A's file by the download route either.
        assert _get(client, a["audio_url"], keys["B"]).status_code == 404
    assert len(_files(tmp_path)) == 2


def test_without_keys_the_seed_output_path_is_unchanged(app: AppFactory) -> None:
    with app() as client:
        result = _made(client, None, "Open house.", "greeting_001.wav")
        assert result["output_path"] == "Demo/greeting_001.wav"
        assert result["audio_url"].endswith("/breathvoice/outputs/Demo/greeting_001.wav")
        assert _get(client, result["audio_url"], None).status_code == 200


def test_files_older_than_the_retention_are_removed(app: AppFactory, tmp_path: Path) -> None:
    keys = _make_keys(tmp_path)
    with app(output_retention_hours=1) as client:
        old = _made(client, keys["A"], "An old line.", "old.wav")
        fresh = _made(client, keys["A"], "A fresh line.", "fresh.wav")
        [old_file] = [p for p in _files(tmp_path) if p.name == "old.wav"]
        two_hours_ago = time.time() - 7200
        os.utime(old_file, (two_hours_ago, two_hours_ago))
        assert _get(client, old["audio_url"], keys["A"]).status_code == 404
    with app(output_retention_hours=1) as client:  # a restart sweeps what has expired
        assert not old_file.exists()
        assert _get(client, old["audio_url"], keys["A"]).status_code == 404
        assert _get(client, fresh["audio_url"], keys["A"]).status_code == 200
    with app(output_retention_hours=0) as client:  # 0 keeps files forever
        os.utime(_files(tmp_path)[0], (1, 1))
        assert _get(client, fresh["audio_url"], keys["A"]).status_code == 200


def test_the_byte_cap_removes_the_oldest_files_first(app: AppFactory, tmp_path: Path) -> None:
    keys = _make_keys(tmp_path)
    text = "Every file here is the same size."
    with app() as client:
        _made(client, keys["A"], text, "measure.wav")
    [measured] = _files(tmp_path)
    size = measured.stat().st_size
    measured.unlink()
    with app(output_max_bytes=int(size * 2.5)) as client:
        first = _made(client, keys["A"], text, "first.wav")
        second = _made(client, keys["B"], text, "second.wav")
        third = _made(client, keys["A"], text, "third.wav")
        assert _get(client, first["audio_url"], keys["A"]).status_code == 404
        assert _get(client, second["audio_url"], keys["B"]).status_code == 200
        assert _get(client, third["audio_url"], keys["A"]).status_code == 200
        assert sorted(p.name for p in _files(tmp_path)) == ["second.wav", "third.wav"]
        too_big = _speak(client, keys["A"], text * 3, "huge.wav")
        assert too_big.status_code == 507
        assert too_big.json()["code"] == "INSUFFICIENT_STORAGE"
        assert sorted(p.name for p in _files(tmp_path)) == ["second.wav", "third.wav"]


def test_a_full_disk_gives_507_and_nothing_half_written_is_served(
        app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _make_keys(tmp_path)
    with app() as client:
        before = _made(client, keys["A"], "The first version.", "line.wav")
        real_fsync = os.fsync

        def disk_full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        full = _speak(client, keys["A"], "A second version that never lands.", "line.wav")
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert full.status_code == 507
        body = full.json()
        assert body["success"] is False and body["code"] == "INSUFFICIENT_STORAGE"
        assert body["result"]["status"] == "failed"
        assert str(tmp_path) not in full.text
        # The earlier file is still whole; no partial file is left or can be fetched.
        served = _get(client, before["audio_url"], keys["A"])
        assert served.status_code == 200
        assert served.content == base64.b64decode(before["audio_data"])
        assert [p.name for p in _files(tmp_path)] == ["line.wav"]
        folder = before["audio_url"].rsplit("/", 1)[0]
        leftover = Path(tmp_path / "outputs" / before["output_path"]).with_name(
            ".partial-x.wav")
        leftover.write_bytes(b"RIFF half")
        assert _get(client, f"{folder}/.partial-x.wav", keys["A"]).status_code == 404
        assert _get(client, f"{folder}/.partial-x.wav", keys["admin"]).status_code == 404

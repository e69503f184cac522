"""Uploads cannot make the server do unbounded work: manifests and clips are judged first.

An attacker with upload rights ships a zip whose manifest declares thousands of keywords
(every later reference selection scanned them all, under the library's lock), or a clip
whose header promises many channels at a very high rate (decoded whole to float, it took
gigabytes). Both are refused from what they declare, before any work; a clip within the
caps is decoded block by block, so memory follows the mono clip, not its channels.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from conftest import AppFactory
from zips import good_zip, group_entries, make_zip, synthetic_voice, wav_bytes

UPLOAD = "/breathvoice/upload-voice-group"
DEFAULT_EMOTIONS = ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
Serve = Callable[..., TestClient]
"""Starts an in-process app (tone engine) with these settings; stopped after the test."""


@pytest.fixture
def serve(app: AppFactory) -> Iterator[Serve]:
    with ExitStack() as stack:
        yield lambda **settings: stack.enter_context(app(**settings))


def post_zip(client: TestClient, group: str, data: bytes, overwrite: bool = False) -> Any:
    return client.post(UPLOAD, data={"voice_group_id": group,
                                     "overwrite": "true" if overwrite else "false"},
                       files={"file": (f"{group}.zip", data, "application/zip")})


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of each file's bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def keywords(count: int, start: int = 0) -> list[str]:
    """``count`` distinct three-character keywords (base-36 numbers)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return ["".join(digits[(n // 36 ** i) % 36] for i in range(3))
            for n in range(start, start + count)]


def manifest_json(rules: list[dict[str, Any]]) -> bytes:
    manifest = {"emotions": DEFAULT_EMOTIONS, "default_emotion": "greeting", "rules": rules}
    return json.dumps(manifest, separators=(",", ":")).encode()


def declaring(rules: list[dict[str, Any]], group: str = "Evil") -> bytes:
    return make_zip([("manifest.json", manifest_json(rules)), *group_entries(group)])


def huge_rules(total: int = 9500, rules: int = 64) -> list[dict[str, Any]]:
    per_rule = -(-total // rules)
    words = keywords(total)
    return [{"keywords": words[i * per_rule:(i + 1) * per_rule],
             "emotion": DEFAULT_EMOTIONS[1 + i % 3]} for i in range(rules)]


def refused(client: TestClient, root: Path, group: str, data: bytes,
            overwrite: bool = False) -> str:
    """Upload ``data``; it must get a 400 in the seed's shape and change nothing on disk."""
    before = snapshot(root / "voices")
    r = post_zip(client, group, data, overwrite)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["code"] == "INVALID_REQUEST"
    assert str(root) not in body["error"]
    assert snapshot(root / "voices") == before
    assert not any((root / ".staging").iterdir())
    message: str = body["error"]
    return message


# -- manifests ----------------------------------------------------------------------------

def test_a_manifest_with_thousands_of_keywords_is_refused(serve: Serve,
                                                          tmp_path: Path) -> None:
    client = serve()
    data = declaring(huge_rules())
    assert len(manifest_json(huge_rules())) < 64 * 1024  # within the manifest's byte cap
    message = refused(client, tmp_path, "Evil", data)
    assert "keywords" in message and "512" in message


def test_a_rule_with_too_many_keywords_is_refused(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    data = declaring([{"keywords": keywords(65), "emotion": "B1_B2"}])
    message = refused(client, tmp_path, "Evil", data)
    assert "rules.0" in message and "65 keywords" in message and "64" in message


def test_too_many_rules_are_refused_and_the_caps_are_settings(serve: Serve,
                                                               tmp_path: Path) -> None:
    client = serve(max_manifest_rules=4, max_manifest_keywords=8)
    rules = [{"keywords": [word], "emotion": "B1_B2"} for word in keywords(5)]
    assert "at most 4" in refused(client, tmp_path, "Evil", declaring(rules))
    rules = [{"keywords": keywords(3, 3 * i), "emotion": "B1_B2"} for i in range(3)]
    assert "9 keywords" in refused(client, tmp_path, "Evil", declaring(rules))


def test_an_oversized_manifest_is_refused_over_an_existing_group(serve: Serve,
                                                                 tmp_path: Path) -> None:
    client = serve(max_manifest_bytes=2048)
    assert post_zip(client, "Kept", good_zip("Kept")).status_code == 200
    rules = [{"keywords": [word * 20 for word in keywords(40)], "emotion": "B1_B2"}]
    assert len(manifest_json(rules)) > 2048  # though within the counts
    message = refused(client, tmp_path, "Kept", declaring(rules, "Kept"), overwrite=True)
    assert "manifest.json" in message and "2048 bytes" in message
    assert client.get("/breathvoice/voice-groups/Kept").json()["status"] == "ready"


def test_a_manifest_at_the_caps_is_accepted_and_its_rules_work(serve: Serve) -> None:
    client = serve()
    rules = [{"keywords": keywords(64, 64 * i), "emotion": DEFAULT_EMOTIONS[1 + i % 3]}
             for i in range(8)]
    rules[4]["keywords"][-1] = "shout"  # rule 4 names B3_B4
    r = post_zip(client, "Loud", declaring(rules, "Loud"))
    assert r.status_code == 200, r.text
    said = client.post("/breathvoice/single-tts", json={
        "text": "Hello.", "filename": "take_SHOUT_2.wav", "voice_group_id": "Loud"})
    assert said.status_code == 200, said.text
    assert said.json()["result"]["reference_audio"] == "Loud_B3_B4.wav"


def _speak_seconds(client: TestClient, group: str, rounds: int = 5) -> float:
    """The median time of a single TTS whose file name matches no rule (the full scan)."""
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        r = client.post("/breathvoice/single-tts", json={
            "text": "Hi.", "filename": f"plain_line_{i}.wav", "voice_group_id": group})
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["reference_audio"] == f"{group}_greeting.wav"
    return sorted(times)[rounds // 2]


def test_selection_stays_cheap_for_a_huge_manifest_already_on_disk(serve: Serve,
                                                                   tmp_path: Path) -> None:
    """A group stored before the caps existed keeps working, at the cost of a small one."""
    client = serve()
    for group in ("Small", "Huge"):
        assert post_zip(client, group, good_zip(group)).status_code == 200
    path = tmp_path / "voices" / "Huge" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["rules"] = huge_rules()
    path.write_text(json.dumps(manifest))
    assert client.get("/breathvoice/voice-groups/Huge").json()["rules"][0]["keywords"][0]
    _speak_seconds(client, "Huge", rounds=1)  # the first call may read the manifest
    small, huge = _speak_seconds(client, "Small"), _speak_seconds(client, "Huge")
    assert huge < 3 * small + 0.1, (small, huge)


# -- clips --------------------------------------------------------------------------------

def flac_bytes(frames: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, frames, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def with_greeting(group: str, clip: bytes, suffix: str) -> bytes:
    return make_zip([*group_entries(group)[1:], (f"{group}_greeting{suffix}", clip)])


def test_a_clip_with_too_many_channels_is_refused(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    voice = synthetic_voice(2.0)
    clip = wav_bytes(np.repeat(voice[:, None], 16, axis=1))
    message = refused(client, tmp_path, "Evil", with_greeting("Evil", clip, ".wav"))
    assert "Evil_greeting.wav" in message and "16 channels" in message


def test_a_clip_at_an_extreme_sample_rate_is_refused(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    clip = flac_bytes(synthetic_voice(2.0, rate=384_000), 384_000)
    message = refused(client, tmp_path, "Evil", with_greeting("Evil", clip, ".flac"))
    assert "384000 Hz" in message and "192000" in message


def test_a_clip_too_long_by_its_header_is_refused(serve: Serve, tmp_path: Path) -> None:
    client = serve(max_clip_seconds=30)
    clip = flac_bytes(np.zeros(48_000 * 600, np.int16), 48_000)
    assert len(clip) < 1 << 20  # ten minutes of silence is small once compressed
    message = refused(client, tmp_path, "Evil", with_greeting("Evil", clip, ".flac"))
    assert "longer than 30 seconds" in message


def test_a_multichannel_high_rate_clip_decodes_in_memory_of_its_mono_size(
        serve: Serve, tmp_path: Path) -> None:
    client = serve()
    rate, seconds, channels = 192_000, 20, 8
    frames = np.zeros((rate * seconds, channels), np.int16)
    frames[:, 0] = (synthetic_voice(seconds, rate=rate) * 32767).astype(np.int16)
    data = with_greeting("Wide", flac_bytes(frames, rate), ".flac")
    del frames
    mono_bytes = rate * seconds * 4
    tracemalloc.start()
    try:
        r = post_zip(client, "Wide", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    details = client.get("/breathvoice/voice-groups/Wide").json()
    assert details["status"] == "ready"
    # all eight channels as float would be 8 x mono_bytes (123 MB); a few mono copies fit
    assert peak < 4 * mono_bytes, f"peak {peak / 1e6:.0f} MB"
    manifest = json.loads((tmp_path / "voices" / "Wide" / "manifest.json").read_text())
    assert manifest["references"]["greeting"]["duration_s"] == pytest.approx(seconds)
    assert manifest["references"]["greeting"]["sample_rate"] == rate

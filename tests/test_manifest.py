"""manifest.json: strict validation, derived status, atomic saves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breathvoice.engines.base import VoiceState
from breathvoice.voices.manifest import (
    GroupDeclaration,
    Manifest,
    ManifestError,
    load_manifest,
    manifest_json,
    parse_manifest,
    save_manifest,
)
from breathvoice.voices.manifest_records import Conditioning, RuleSpec


def reference(emotion: str, file: str | None = None) -> dict[str, Any]:
    return {
        "file": file or f"Hero_{emotion}.wav",
        "duration_s": 1.5,
        "sample_rate": 24000,
        "conditioning": {"engine": "kokoro", "method": "cloned", "stock_voice": "jf_alpha",
                         "similarity": 0.91, "file": f"conditioning/{emotion}.npz"},
    }


def manifest_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "voice_group_id": "Hero",
        "references": {e: reference(e) for e in ("greeting", "B1_B2", "B3_B4", "B5_orgasm")},
    }
    data.update(changes)
    return json.loads(Manifest.model_validate(data).model_dump_json())


def test_defaults_are_the_seed_emotions_and_rules() -> None:
    m = Manifest(voice_group_id="Hero")
    assert m.emotions == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    assert m.default_emotion == "greeting"
    assert [r.emotion for r in m.rules] == m.emotions
    assert m.schema_version == 1


def test_status_is_derived_from_references() -> None:
    full = Manifest.model_validate(manifest_data())
    assert full.status == "ready"
    assert full.available_emotions == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    partial = Manifest.model_validate(
        manifest_data(references={"B3_B4": reference("B3_B4"), "greeting": reference("greeting")})
    )
    assert partial.status == "incomplete"
    assert partial.available_emotions == ["greeting", "B3_B4"]


def test_round_trip_through_disk(tmp_path: Path) -> None:
    folder = tmp_path / "Hero"
    folder.mkdir()
    original = Manifest.model_validate(manifest_data())
    save_manifest(folder, original)
    assert load_manifest(folder) == original
    assert json.loads((folder / "manifest.json").read_text())["voice_group_id"] == "Hero"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]


@pytest.mark.parametrize(
    "broken",
    [
        {"surprise": True},
        {"schema_version": 2},
        {"voice_group_id": "../etc"},
        {"emotions": []},
        {"emotions": ["greeting", "GREETING"]},
        {"emotions": ["greeting", "bad/name"]},
        {"default_emotion": "nowhere"},
        {"rules": [{"keywords": ["x"], "emotion": "nowhere"}]},
        {"rules": [{"keywords": [], "emotion": "greeting"}]},
        {"references": {"nowhere": reference("greeting")}},
        {"references": {"greeting": reference("greeting", "../../etc/passwd")}},
        {"references": {"greeting": reference("greeting", ".hidden.wav")}},
        {"references": {"greeting": {**reference("greeting"), "extra": 1}}},
        {"references": {"greeting": {**reference("greeting"), "conditioning": {
            **reference("greeting")["conditioning"], "file": "../x.npz"}}}},
    ],
)
def test_invalid_manifests_are_refused(broken: dict[str, Any]) -> None:
    data = {**manifest_data(), **broken}
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps(data))


def test_corrupt_or_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    folder = tmp_path / "Hero"
    folder.mkdir()
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError):
        load_manifest(folder)


def test_folder_name_must_match_the_group_id(tmp_path: Path) -> None:
    folder = tmp_path / "Villain"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest_data()))
    with pytest.raises(ManifestError, match="Villain"):
        load_manifest(folder)


def test_failed_save_keeps_the_previous_manifest(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "Hero"
    folder.mkdir()
    save_manifest(folder, Manifest.model_validate(manifest_data()))
    before = (folder / "manifest.json").read_bytes()

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save_manifest(folder, Manifest(voice_group_id="Hero"))
    assert (folder / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]


def test_an_exported_manifest_is_a_valid_declaration() -> None:
    custom = Manifest(voice_group_id="Hero", emotions=["calm", "angry"], default_emotion="calm",
                      rules=[RuleSpec(keywords=["shout"], emotion="angry")])
    declaration = GroupDeclaration.model_validate_json(manifest_json(custom))
    assert declaration.emotions == ["calm", "angry"]
    assert declaration.keyword_rules()[0].keywords == ("shout",)


def test_declarations_are_strict() -> None:
    with pytest.raises(ValueError, match="emotionz"):
        GroupDeclaration.model_validate({"emotionz": ["a"]})
    assert GroupDeclaration().emotions == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]


def test_conditioning_summarises_the_engine_facts() -> None:
    state = VoiceState("kokoro", {"style": np.zeros((2, 1, 4), np.float32)},
                       {"method": "blend", "nearest_stock_voice": "jf_alpha", "similarity": 0.87})
    c = Conditioning.from_state(state, "conditioning/greeting.npz")
    assert (c.engine, c.method, c.stock_voice, c.similarity) == ("kokoro", "blend", "jf_alpha",
                                                                 0.87)
    bare = Conditioning.from_state(VoiceState("x"), "conditioning/a.npz")
    assert (bare.method, bare.stock_voice, bare.similarity) == ("cloned", None, None)


def test_custom_emotions_get_a_fitting_default_and_rules() -> None:
    own = GroupDeclaration.model_validate({"emotions": ["calm", "angry"]})
    assert own.default_emotion == "calm" and own.rules == []
    mixed = GroupDeclaration.model_validate({"emotions": ["whisper", "greeting", "B5_orgasm"]})
    assert mixed.default_emotion == "greeting"
    assert [r.emotion for r in mixed.rules] == ["greeting", "B5_orgasm"]

"""Uploading a voice-group zip: the seed layout works; hostile zips change nothing on disk."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from breathvoice.engines.base import VoiceState
from breathvoice.errors import (
    BreathVoiceError,
    EngineError,
    InvalidRequest,
    PayloadTooLarge,
    VoiceGroupExists,
)
from breathvoice.settings import Settings
from breathvoice.voices.importer import ImportResult, import_voice_group_zip
from breathvoice.voices.library import VoiceLibrary
from zips import (
    BAD_GROUP_IDS,
    HOSTILE_STATUS,
    MeasuringEngine,
    engine,
    good_zip,
    hostile_zips,
    library,
    make_zip,
    synthetic_voice,
    voice_wav,
)

__all__ = ["engine", "library"]  # fixtures, from zips

MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 16
SEED_FILES = ["NewCharacter_greeting.wav", "NewCharacter_B1_B2.wav", "NewCharacter_B3_B4.wav",
              "NewCharacter_B5_orgasm.wav"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_zip_uncompressed_bytes=MAX_BYTES,
                    max_zip_entries=MAX_ENTRIES, max_upload_bytes=4 * MAX_BYTES)



def upload(data: bytes | Path, group: str, library: VoiceLibrary, settings: Settings,
           overwrite: bool = False) -> ImportResult:
    return import_voice_group_zip(data, group, overwrite, library=library,
                                  engine=library.engine, settings=settings)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of each file's bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
        else "dir"
        for p in sorted(root.rglob("*"))
    }


def test_seed_zip_becomes_a_ready_group(library: VoiceLibrary, settings: Settings) -> None:
    data = good_zip("NewCharacter")
    result = upload(data, "NewCharacter", library, settings)

    assert result.extracted_files == SEED_FILES
    assert result.target_directory == "voices/NewCharacter"
    assert result.warnings == [] and result.status == "ready"
    folder = settings.voices_dir / "NewCharacter"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in SEED_FILES:
            assert (folder / name).read_bytes() == archive.read(name)
    details = library.details("NewCharacter")
    assert details["status"] == "ready" and details["file_count"] == 4
    assert details["reference_files"]["B1_B2"] == "NewCharacter_B1_B2.wav"
    for emotion in ("greeting", "B1_B2", "B3_B4", "B5_orgasm"):
        state = VoiceState.load(folder / "conditioning" / f"{emotion}.npz")
        assert state.engine == "measuring"
        assert state.arrays["profile"][1] == pytest.approx(1.5, abs=1e-3)  # clip seconds
    assert snapshot(settings.staging_dir) == {}


def test_one_top_folder_and_mac_clutter_are_accepted(library: VoiceLibrary,
                                                    settings: Settings) -> None:
    data = good_zip("NewCharacter", folder="NewCharacter/", extra=[
        ("NewCharacter/", b""), ("__MACOSX/NewCharacter/._NewCharacter_greeting.wav", b"\0" * 64),
        ("NewCharacter/.DS_Store", b"\0" * 64)])
    result = upload(data, "NewCharacter", library, settings)
    assert result.extracted_files == SEED_FILES
    assert sorted(p.name for p in (settings.voices_dir / "NewCharacter").iterdir()) == sorted(
        [*SEED_FILES, "conditioning", "manifest.json"])


def test_missing_emotions_make_an_incomplete_group(library: VoiceLibrary,
                                                   settings: Settings) -> None:
    result = upload(good_zip("Half", ["greeting", "B3_B4"]), "Half", library, settings)
    assert result.status == "incomplete"
    assert "B1_B2" in result.warnings[0] and "B5_orgasm" in result.warnings[0]
    details = library.details("Half")
    assert details["status"] == "incomplete"
    assert details["available_emotions"] == ["greeting", "B3_B4"]
    assert library.choose("Half", "B5_line.wav").emotion == "greeting"


def test_flac_ogg_and_mp3_references(library: VoiceLibrary, settings: Settings) -> None:
    entries = []
    for emotion, fmt in (("greeting", "FLAC"), ("B1_B2", "OGG"), ("B3_B4", "MP3")):
        buffer = io.BytesIO()
        soundfile.write(buffer, synthetic_voice(1.5), 24000, format=fmt)
        entries.append((f"Mix_{emotion}.{fmt.lower()}", buffer.getvalue()))
    result = upload(make_zip(entries), "Mix", library, settings)
    assert result.extracted_files == ["Mix_greeting.flac", "Mix_B1_B2.ogg", "Mix_B3_B4.mp3"]
    for emotion in ("greeting", "B1_B2", "B3_B4"):
        duration = library.choose("Mix", emotion=emotion).voice_state.arrays["profile"][1]
        assert duration == pytest.approx(1.5, abs=0.1)


def test_a_group_can_declare_its_own_emotions(library: VoiceLibrary, settings: Settings) -> None:
    declaration = {"emotions": ["calm", "angry"], "default_emotion": "calm",
                   "rules": [{"keywords": ["shout", "angry"], "emotion": "angry"}]}
    data = make_zip([("voice_group.json", json.dumps(declaration).encode()),
                     ("Ogre_calm.wav", voice_wav(seed=1)), ("Ogre_angry.wav", voice_wav(seed=2))])
    assert upload(data, "Ogre", library, settings).status == "ready"
    assert library.details("Ogre")["emotions"] == ["calm", "angry"]
    assert library.choose("Ogre", "shout_01.wav").emotion == "angry"
    assert library.choose("Ogre", "B1_line.wav").emotion == "calm"


def test_the_zip_may_be_given_as_a_path(library: VoiceLibrary, settings: Settings,
                                        tmp_path: Path) -> None:
    path = tmp_path / "NewCharacter.zip"
    path.write_bytes(good_zip("NewCharacter"))
    assert upload(path, "NewCharacter", library, settings).extracted_files == SEED_FILES


@pytest.mark.parametrize("name", sorted(HOSTILE_STATUS))
def test_hostile_zip_is_refused_and_changes_nothing(name: str, library: VoiceLibrary,
                                                    settings: Settings) -> None:
    upload(good_zip("Evil"), "Evil", library, settings)
    before = snapshot(settings.data_dir)
    data = hostile_zips(max_uncompressed_bytes=MAX_BYTES, max_entries=MAX_ENTRIES)[name]

    with pytest.raises(BreathVoiceError) as caught:
        upload(data, "Evil", library, settings, overwrite=True)

    assert caught.value.http_status == HOSTILE_STATUS[name]
    assert isinstance(caught.value, PayloadTooLarge if HOSTILE_STATUS[name] == 413
                      else InvalidRequest)
    assert str(settings.data_dir) not in caught.value.message
    assert snapshot(settings.data_dir) == before
    assert library.choose("Evil", "B1.wav").reference_file == "Evil_B1_B2.wav"


def test_refusals_name_the_offending_entry(library: VoiceLibrary, settings: Settings) -> None:
    zips = hostile_zips(max_uncompressed_bytes=MAX_BYTES, max_entries=MAX_ENTRIES)
    for name, shown in (("zip_slip", "../evil.wav"), ("nested_zip", "inner.zip"),
                        ("text_file", "readme.txt"), ("too_short_clip", "Evil_greeting.wav")):
        with pytest.raises(BreathVoiceError, match=shown.replace(".", r"\.")):
            upload(zips[name], "Evil", library, settings)


@pytest.mark.parametrize("group", BAD_GROUP_IDS)
def test_bad_voice_group_ids_are_refused(group: str, library: VoiceLibrary,
                                         settings: Settings) -> None:
    before = snapshot(settings.data_dir)
    with pytest.raises(InvalidRequest, match="voice_group_id"):
        upload(good_zip("X"), group, library, settings)
    assert snapshot(settings.data_dir) == before


def test_oversized_upload_is_413(library: VoiceLibrary, settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with pytest.raises(PayloadTooLarge):
        upload(good_zip("Big"), "Big", library, small)


def test_existing_group_is_409_before_any_work(library: VoiceLibrary, settings: Settings,
                                               engine: MeasuringEngine) -> None:
    upload(good_zip("Hero"), "Hero", library, settings)
    before, prepared = snapshot(settings.data_dir), engine.prepared
    with pytest.raises(VoiceGroupExists) as caught:
        upload(b"not even a zip", "Hero", library, settings)
    assert caught.value.http_status == 409
    assert engine.prepared == prepared
    assert snapshot(settings.data_dir) == before


def test_overwrite_replaces_the_whole_group(library: VoiceLibrary, settings: Settings) -> None:
    upload(good_zip("Hero"), "Hero", library, settings)
    old_state = library.choose("Hero", "B1.wav").voice_state
    longer = make_zip([("Hero_B1_B2.wav", voice_wav(3.0, seed=7))])
    result = upload(longer, "Hero", library, settings, overwrite=True)
    assert result.status == "incomplete"
    folder = settings.voices_dir / "Hero"
    assert sorted(p.name for p in folder.iterdir()) == ["Hero_B1_B2.wav", "conditioning",
                                                        "manifest.json"]
    new_state = library.choose("Hero", "B1.wav").voice_state
    assert new_state.arrays["profile"][1] == pytest.approx(3.0, abs=1e-3)
    assert old_state.arrays["profile"][1] == pytest.approx(1.5, abs=1e-3)
    assert snapshot(settings.staging_dir) == {}


def test_failure_during_the_swap_restores_the_old_group(
        library: VoiceLibrary, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    upload(good_zip("Hero"), "Hero", library, settings)
    before = snapshot(settings.data_dir)
    real_rename = os.rename

    def rename_failing_on_swap_in(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == settings.voices_dir / "Hero" and settings.staging_dir in Path(src).parents \
                and Path(src).name == "group":
            raise OSError("simulated crash while swapping")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_failing_on_swap_in)
    with pytest.raises(OSError, match="simulated"):
        upload(good_zip("Hero", seconds=2.0), "Hero", library, settings, overwrite=True)
    assert snapshot(settings.data_dir) == before
    assert library.details("Hero")["status"] == "ready"


class BrokenEngine(MeasuringEngine):
    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        if self.prepared >= 2:
            raise RuntimeError("model crashed")
        return super().prepare_voice(reference, sample_rate)


def test_engine_failure_leaves_nothing_behind(settings: Settings) -> None:
    library = VoiceLibrary(settings.voices_dir, BrokenEngine())
    before = snapshot(settings.data_dir)
    with pytest.raises(EngineError) as caught:
        upload(good_zip("Hero"), "Hero", library, settings)
    assert caught.value.http_status == 500 and "model crashed" not in caught.value.message
    assert snapshot(settings.data_dir) == before


class SlowEngine(MeasuringEngine):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        self.calls.append(threading.get_ident())
        time.sleep(0.01)
        return super().prepare_voice(reference, sample_rate)


def test_concurrent_imports_of_one_group_do_not_interleave(settings: Settings) -> None:
    engine = SlowEngine()
    library = VoiceLibrary(settings.voices_dir, engine)
    zips = [good_zip("Hero", seconds=1.0), good_zip("Hero", seconds=2.0)]
    errors: list[BaseException] = []

    def run(data: bytes) -> None:
        try:
            upload(data, "Hero", library, settings, overwrite=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(z,)) for z in zips]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert engine.calls[:4] == [engine.calls[0]] * 4 and engine.calls[4:] == [engine.calls[4]] * 4
    durations = {round(float(library.choose("Hero", emotion=e).voice_state.arrays["profile"][1]))
                 for e in ("greeting", "B1_B2", "B3_B4", "B5_orgasm")}
    assert len(durations) == 1  # all four references come from the same upload

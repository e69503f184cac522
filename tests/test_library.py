"""The voice library on disk: listing, details, choosing a reference, cache, export, demo."""

from __future__ import annotations

import io
import json
import logging
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from breathvoice.engines.base import VoiceState
from breathvoice.errors import InvalidRequest, VoiceGroupNotFound
from breathvoice.settings import Settings
from breathvoice.voices.demo import ensure_demo_group
from breathvoice.voices.importer import import_voice_group_zip
from breathvoice.voices.library import VoiceLibrary
from zips import MeasuringEngine, engine, good_zip, library, make_zip, voice_wav

__all__ = ["engine", "library"]  # fixtures, from zips

SEED_KEYS = {"voice_group_id", "reference_files", "available_emotions", "file_count", "status"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")



def add(library: VoiceLibrary, settings: Settings, group: str, data: bytes | None = None,
        overwrite: bool = False) -> None:
    import_voice_group_zip(data or good_zip(group), group, overwrite, library=library,
                           engine=library.engine, settings=settings)


def test_listing_is_sorted_and_skips_what_is_not_a_group(
        library: VoiceLibrary, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    for group in ("Zed", "Alice", "mid"):
        add(library, settings, group)
    broken = settings.voices_dir / "Broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ this is not json")
    (settings.voices_dir / ".hidden").mkdir()
    (settings.voices_dir / "stray.txt").write_text("x")
    (settings.voices_dir / "NoManifest").mkdir()

    with caplog.at_level(logging.WARNING):
        assert library.list_ids() == ["Alice", "Zed", "mid"]
    assert "Broken" in caplog.text and "NoManifest" in caplog.text
    assert not library.exists("Broken") and library.exists("Alice")
    with pytest.raises(VoiceGroupNotFound):
        library.details("Broken")


def test_details_have_the_seed_shape(library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "ChineseWoman")
    details = library.details("ChineseWoman")
    assert SEED_KEYS <= details.keys()
    assert details["reference_files"] == {
        "greeting": "ChineseWoman_greeting.wav", "B1_B2": "ChineseWoman_B1_B2.wav",
        "B3_B4": "ChineseWoman_B3_B4.wav", "B5_orgasm": "ChineseWoman_B5_orgasm.wav"}
    assert details["available_emotions"] == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    assert (details["file_count"], details["status"]) == (4, "ready")
    assert details["conditioning"]["B3_B4"]["engine"] == "measuring"
    assert "file" not in details["conditioning"]["B3_B4"]
    json.dumps(details)


def test_choose_by_filename_and_by_emotion(library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "Hero")
    assert library.choose("Hero", "P0_B4_B5_reaction_17.wav").reference_file == "Hero_B3_B4.wav"
    assert library.choose("Hero", "B10_line.wav").emotion == "greeting"
    assert library.choose("Hero").emotion == "greeting"
    chosen = library.choose("Hero", "B1_x.wav", emotion="b5_ORGASM")
    assert (chosen.emotion, chosen.reference_file) == ("B5_orgasm", "Hero_B5_orgasm.wav")
    with pytest.raises(InvalidRequest, match="greeting, B1_B2, B3_B4, B5_orgasm"):
        library.choose("Hero", emotion="happy")


@pytest.mark.parametrize("group", ["Nobody", "../Hero", "Hero/..", ""])
def test_unknown_groups_are_not_found(group: str, library: VoiceLibrary,
                                      settings: Settings) -> None:
    add(library, settings, "Hero")
    with pytest.raises(VoiceGroupNotFound):
        library.choose(group, "a.wav")
    assert not library.exists(group)


def test_incomplete_group_falls_back_and_says_so(library: VoiceLibrary,
                                                 settings: Settings) -> None:
    add(library, settings, "Half", good_zip("Half", ["B1_B2", "B3_B4"]))
    choice = library.choose("Half", "B5_finale.wav")
    assert choice.requested_emotion == "B5_orgasm"
    assert (choice.emotion, choice.reference_file) == ("B1_B2", "Half_B1_B2.wav")
    assert library.choose("Half", emotion="B5_orgasm").emotion == "B1_B2"


def test_voice_state_is_loaded_once_and_replaced_with_the_group(
        library: VoiceLibrary, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    add(library, settings, "Hero")
    loads: list[Path] = []
    real_load = VoiceState.load

    def counting_load(path: Path) -> VoiceState:
        loads.append(path)
        return real_load(path)

    monkeypatch.setattr(VoiceState, "load", staticmethod(counting_load))
    first = library.choose("Hero", "B1.wav").voice_state
    assert library.choose("Hero", "B2.wav").voice_state is first
    assert len(loads) == 1
    add(library, settings, "Hero", good_zip("Hero", seconds=2.5), overwrite=True)
    replaced = library.choose("Hero", "B1.wav").voice_state
    assert replaced.arrays["profile"][1] == pytest.approx(2.5, abs=1e-3)
    assert len(loads) == 2


def test_missing_conditioning_is_recomputed(library: VoiceLibrary, settings: Settings,
                                            engine: MeasuringEngine) -> None:
    add(library, settings, "Hero")
    npz = settings.voices_dir / "Hero" / "conditioning" / "B3_B4.npz"
    expected = VoiceState.load(npz).arrays["profile"]
    npz.unlink()
    prepared = engine.prepared
    state = library.choose("Hero", "impact.wav").voice_state
    assert engine.prepared == prepared + 1
    np.testing.assert_allclose(state.arrays["profile"], expected, rtol=1e-6)
    assert VoiceState.load(npz).engine == "measuring"


def test_conditioning_of_another_engine_is_redone(settings: Settings) -> None:
    old = VoiceLibrary(settings.voices_dir, MeasuringEngine("old-engine"))
    add(old, settings, "Hero")
    new_engine = MeasuringEngine("new-engine")
    library = VoiceLibrary(settings.voices_dir, new_engine)
    state = library.choose("Hero", "greeting.wav").voice_state
    assert state.engine == "new-engine" and new_engine.prepared == 1
    assert library.details("Hero")["conditioning"]["greeting"]["engine"] == "new-engine"
    npz = settings.voices_dir / "Hero" / "conditioning" / "greeting.npz"
    assert VoiceState.load(npz).engine == "new-engine"


def test_export_reimports_to_the_same_group(library: VoiceLibrary, settings: Settings) -> None:
    declaration = {"emotions": ["calm", "angry"], "default_emotion": "calm",
                   "rules": [{"keywords": ["shout"], "emotion": "angry"}]}
    add(library, settings, "Ogre", make_zip([
        ("manifest.json", json.dumps(declaration).encode()),
        ("Ogre_calm.wav", voice_wav(seed=1)), ("Ogre_angry.wav", voice_wav(seed=2))]))
    exported = library.export_zip("Ogre")
    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        assert sorted(archive.namelist()) == ["Ogre_angry.wav", "Ogre_calm.wav", "manifest.json"]
    add(library, settings, "Ogre2", exported)
    original, copy = library.details("Ogre"), library.details("Ogre2")
    for key in ("reference_files", "emotions", "rules", "default_emotion", "status"):
        assert copy[key] == original[key]
    for name in ("Ogre_calm.wav", "Ogre_angry.wav"):
        assert (settings.voices_dir / "Ogre2" / name).read_bytes() == (
            settings.voices_dir / "Ogre" / name).read_bytes()


def test_delete(library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "Hero")
    library.choose("Hero", "a.wav")
    library.delete("Hero")
    assert library.list_ids() == [] and not (settings.voices_dir / "Hero").exists()
    with pytest.raises(VoiceGroupNotFound):
        library.choose("Hero", "a.wav")
    with pytest.raises(VoiceGroupNotFound):
        library.delete("Hero")
    assert list(settings.staging_dir.iterdir()) == []


def test_readers_never_see_a_half_replaced_group(library: VoiceLibrary,
                                                 settings: Settings) -> None:
    add(library, settings, "Hero")
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: set[float] = set()

    def read() -> None:
        while not stop.is_set():
            try:
                choice = library.choose("Hero", "B1.wav")
                seen.add(round(float(choice.voice_state.arrays["profile"][1]), 1))
            except BaseException as exc:
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for seconds in (2.0, 1.0, 2.0):
            add(library, settings, "Hero", good_zip("Hero", seconds=seconds), overwrite=True)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert seen <= {1.5, 2.0, 1.0}


def test_demo_group_is_ready_and_spoken_by_stock_voices(library: VoiceLibrary,
                                                        settings: Settings) -> None:
    assert ensure_demo_group(library, library.engine) is True
    details = library.details("Demo")
    assert details["status"] == "ready"
    conditioning = details["conditioning"]
    assert conditioning["greeting"] == {"engine": "measuring", "method": "stock",
                                        "stock_voice": "jf_alpha", "similarity": None}
    assert conditioning["B1_B2"]["stock_voice"] == "jf_nezumi"
    for emotion, file in details["reference_files"].items():
        samples, rate = soundfile.read(settings.voices_dir / "Demo" / file, dtype="float32")
        assert rate == MeasuringEngine.sample_rate
        assert 0.5 < len(samples) / rate < 30 and np.abs(samples).max() > 0.01
        assert library.choose("Demo", emotion=emotion).emotion == emotion
    before = {p: p.read_bytes() for p in (settings.voices_dir / "Demo").rglob("*") if p.is_file()}
    assert ensure_demo_group(library, library.engine) is False
    assert {p: p.read_bytes() for p in before} == before


def test_demo_npz_is_rebuilt_from_the_stock_voice(library: VoiceLibrary, settings: Settings,
                                                  engine: MeasuringEngine) -> None:
    ensure_demo_group(library, engine, "Demo")
    (settings.voices_dir / "Demo" / "conditioning" / "greeting.npz").unlink()
    state = library.choose("Demo", emotion="greeting").voice_state
    np.testing.assert_array_equal(state.arrays["profile"],
                                  engine.stock_voices()["jf_alpha"].arrays["profile"])
    assert engine.prepared == 0


class NoStockEngine(MeasuringEngine):
    def stock_voices(self) -> dict[str, VoiceState]:
        return {}


def test_demo_without_stock_voices_uses_the_default_voice(settings: Settings) -> None:
    engine = NoStockEngine()
    library = VoiceLibrary(settings.voices_dir, engine)
    assert ensure_demo_group(library, engine, "Sample")
    assert library.details("Sample")["status"] == "ready"


def test_demo_never_touches_an_existing_folder(library: VoiceLibrary,
                                               settings: Settings) -> None:
    folder = settings.voices_dir / "Demo"
    folder.mkdir()
    (folder / "manifest.json").write_text("user data, damaged")
    assert ensure_demo_group(library, library.engine) is False
    assert (folder / "manifest.json").read_text() == "user data, damaged"


def test_recovery_after_a_crash_mid_swap_puts_the_group_back(
        library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "Alice")
    before = library.details("Alice")
    # a crash between "old group moved aside" and "new group renamed in"
    (settings.voices_dir / "Alice").rename(settings.staging_dir / "replaced-Alice-0123abcd")
    (settings.staging_dir / "build-half").mkdir()
    (settings.staging_dir / "build-half" / "x.wav").write_bytes(b"partial")
    assert "Alice" not in library.list_ids()
    library.recover_staging()
    assert library.details("Alice") == before
    assert list(settings.staging_dir.iterdir()) == []


def test_recovery_drops_a_stale_copy_when_the_group_is_in_place(
        library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "Bob")
    stale = settings.staging_dir / "replaced-Bob-ffff0000"
    stale.mkdir()
    (stale / "manifest.json").write_text("{}")
    library.recover_staging()
    assert not stale.exists() and library.exists("Bob")


def test_recovery_removes_temporaries_a_kill_left_inside_a_group(
        library: VoiceLibrary, settings: Settings) -> None:
    add(library, settings, "Cleo")
    folder = settings.voices_dir / "Cleo"
    kept = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    before = library.details("Cleo")
    (folder / ".manifest-k1ll3d.tmp").write_text('{"half')
    (folder / "conditioning" / "greeting.npz.tmp").write_bytes(b"PK\x03half")
    library.recover_staging()
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == kept
    assert library.details("Cleo") == before

"""Two servers on one shared data dir: a group change made through one library is seen by
the other at once, never answered from what it read before, and a server starting never
tidies away what another live one is still writing."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from breathvoice.errors import VoiceGroupNotFound
from breathvoice.outputs import OutputStore, write_atomically
from breathvoice.settings import Settings
from breathvoice.voices.importer import import_voice_group_zip
from breathvoice.voices.library import VoiceLibrary, staging_area
from zips import MeasuringEngine, good_zip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "shared")


def node(settings: Settings) -> VoiceLibrary:
    return VoiceLibrary(settings.voices_dir, MeasuringEngine(), staging_dir=settings.staging_dir)


def add(library: VoiceLibrary, settings: Settings, group: str, data: bytes,
        overwrite: bool = False) -> None:
    import_voice_group_zip(data, group, overwrite, library=library, engine=library.engine,
                           settings=settings)


def test_uploads_replacements_and_deletions_reach_the_other_node(settings: Settings) -> None:
    first, second = node(settings), node(settings)
    assert second.list_ids() == []
    add(first, settings, "Hero", good_zip("Hero"))
    assert second.list_ids() == ["Hero"]
    assert second.choose("Hero", "B5_end.wav").reference_file == "Hero_B5_orgasm.wav"

    add(first, settings, "Hero", good_zip("Hero", ["B1_B2", "B3_B4"]), overwrite=True)
    assert second.details("Hero")["available_emotions"] == ["B1_B2", "B3_B4"]
    fallback = second.choose("Hero", "B5_end.wav")
    assert (fallback.emotion, fallback.reference_file) == ("B1_B2", "Hero_B1_B2.wav")

    first.delete("Hero")
    assert not second.exists("Hero") and second.list_ids() == []
    with pytest.raises(VoiceGroupNotFound):
        second.choose("Hero", "B1_x.wav")


def test_a_manifest_copied_over_with_its_old_size_and_time_is_read_again(
        settings: Settings) -> None:
    first, second = node(settings), node(settings)
    add(first, settings, "Hero", good_zip("Hero"))
    assert second.choose("Hero", "hitbox_1.wav").emotion == "greeting"  # cached now
    path = settings.voices_dir / "Hero" / "manifest.json"
    before = path.stat()
    text = path.read_text()
    assert '"impact"' in text
    with open(path, "r+", encoding="utf-8") as f:  # in place, same length, as `cp -p` does
        f.write(text.replace('"impact"', '"hitbox"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    assert second.choose("Hero", "hitbox_1.wav").emotion == "B3_B4"


def test_a_starting_node_leaves_a_live_nodes_build_alone(settings: Settings) -> None:
    working = node(settings)
    dead = settings.staging_dir / "build-dead0001"  # a process killed while building
    dead.mkdir(parents=True)
    (dead / "x.wav").write_bytes(b"partial")
    dead.with_name(dead.name + ".lock").write_text("")
    with staging_area(working.staging_dir) as build:
        (build / "Hero_greeting.wav").write_bytes(b"half written")
        node(settings).recover_staging()  # another node starts meanwhile
        assert (build / "Hero_greeting.wav").exists()
        assert not dead.exists() and not dead.with_name(dead.name + ".lock").exists()
    assert list(settings.staging_dir.iterdir()) == []


def test_a_starting_node_leaves_a_live_nodes_partial_output_alone(tmp_path: Path) -> None:
    folder = tmp_path / "outputs" / "Demo"
    folder.mkdir(parents=True)
    abandoned = folder / ".partial-dead1234"
    abandoned.write_bytes(b"RIFF half")
    writing = folder / ".partial-live5678"
    with open(writing, "wb") as f:  # as write_atomically holds it while it writes
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(b"RIFF being written")
        OutputStore(tmp_path / "outputs")  # another node opens the store meanwhile
        assert writing.exists() and not abandoned.exists()
    written = folder / "line.wav"
    write_atomically(written, b"RIFF whole")
    assert written.read_bytes() == b"RIFF whole"
    assert sorted(p.name for p in folder.iterdir()) == [".partial-live5678", "line.wav"]

"""WAV files: readable by standard tools, written all-or-nothing."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from breathvoice.audio import wav_bytes, write_wav_file
from breathvoice.audio.wav import wav_header


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_written_file_is_16_bit_mono_with_the_samples(tmp_path: Path) -> None:
    samples = tone(0.5, 24000)
    target = tmp_path / "greeting_001.wav"
    write_wav_file(target, samples, 24000)
    info = soundfile.info(str(target))
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    read, _ = soundfile.read(str(target), dtype="float32")
    assert np.abs(read - samples).max() <= 1.5 / 32767


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_wav_file(tmp_path / "out.wav", tone(0.1, 16000), 16000)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_overwrite_replaces_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    write_wav_file(target, tone(0.1, 16000), 16000)
    write_wav_file(target, tone(0.3, 16000), 16000)
    assert soundfile.info(str(target)).frames == 4800
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.wav"
    write_wav_file(target, tone(0.1, 16000), 16000)
    before = target.read_bytes()

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        write_wav_file(target, tone(0.5, 16000), 16000)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_written_file_is_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    write_wav_file(target, tone(0.1, 16000), 16000)
    if os.name == "posix":
        assert target.stat().st_mode & 0o444 == 0o444


def test_missing_folder_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_wav_file(tmp_path / "missing" / "out.wav", tone(0.1, 16000), 16000)
    assert list(tmp_path.iterdir()) == []


def test_wav_bytes_is_a_complete_file_for_the_wave_module() -> None:
    samples = tone(0.25, 22050)
    with wave.open(io.BytesIO(wav_bytes(samples, 22050))) as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 22050
        assert reader.getnframes() == len(samples)


def test_empty_audio_is_a_valid_empty_file() -> None:
    with wave.open(io.BytesIO(wav_bytes(np.zeros(0, dtype=np.float32), 24000))) as reader:
        assert reader.getnframes() == 0


def test_header_sizes() -> None:
    closed = wav_header(24000, 4800)
    assert int.from_bytes(closed[4:8], "little") == 4800 + 36
    assert int.from_bytes(closed[40:44], "little") == 4800
    open_ended = wav_header(24000)
    assert open_ended[4:8] == open_ended[40:44] == b"\xff\xff\xff\xff"

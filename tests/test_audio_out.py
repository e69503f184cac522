"""A generation's audio on the wire: frames, their encoding and their alignment."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from breathvoice.audio.formats import parse_elevenlabs_format
from breathvoice.audio.pcm import float_to_pcm16_bytes
from breathvoice.engines.base import AudioChunk, CharAlignment
from breathvoice.streaming.audio_out import Frame, GenerationAudio

RATE = 24000


def tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chunk(text: str, seconds: float, aligned: bool = True) -> AudioChunk:
    """``text`` spread evenly over ``seconds`` of tone."""
    step = seconds * 1000 / len(text)
    alignment = CharAlignment(
        list(text), [round(i * step) for i in range(len(text))], [round(step)] * len(text)
    ) if aligned else None
    return AudioChunk(tone(seconds), RATE, text, alignment)


def absolute_starts(frames: list[Frame], bytes_per_ms: float) -> list[tuple[str, float]]:
    """(char, ms from the generation start) as a client adds up per-message alignment."""
    out: list[tuple[str, float]] = []
    offset = 0.0
    for frame in frames:
        if frame.alignment is not None:
            out += [(c, offset + s) for c, s in zip(frame.alignment.chars,
                                                    frame.alignment.char_start_times_ms,
                                                    strict=True)]
        offset += len(frame.audio) / bytes_per_ms
    return out


def test_a_long_chunk_is_cut_into_quarter_second_frames_of_exact_pcm() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("pcm_24000"), RATE)
    samples = tone(1.0)
    frames = audio.frames(AudioChunk(samples, RATE, "x"))
    assert [len(f.audio) for f in frames] == [12000] * 4  # 250 ms of s16le each
    assert b"".join(f.audio for f in frames) == float_to_pcm16_bytes(samples)
    assert audio.finish() == []


def test_a_short_chunk_is_one_frame() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("pcm_24000"), RATE)
    assert len(audio.frames(AudioChunk(tone(0.1), RATE, "x"))) == 1


def test_each_frame_carries_the_characters_starting_in_it_relative_to_itself() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("pcm_24000"), RATE)
    frames = audio.frames(chunk("abcdefgh", 1.0)) + audio.frames(chunk("ijkl", 0.5))
    frames += audio.finish()
    assert [f.alignment.chars if f.alignment else () for f in frames] == [
        ("a", "b"), ("c", "d"), ("e", "f"), ("g", "h"), ("i", "j"), ("k", "l")]
    for frame in frames:
        assert frame.alignment is not None
        assert all(0 <= s < 250 for s in frame.alignment.char_start_times_ms)
    starts = absolute_starts(frames, bytes_per_ms=48.0)
    assert [round(s) for _, s in starts] == [0, 125, 250, 375, 500, 625, 750, 875,
                                             1000, 1125, 1250, 1375]


def test_resampled_pcm_keeps_the_duration_once_finished() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("pcm_16000"), RATE)
    frames = audio.frames(chunk("abcd", 1.0)) + audio.frames(chunk("ef", 0.5)) + audio.finish()
    samples = sum(len(f.audio) for f in frames) // 2
    assert samples == pytest.approx(24000, abs=2)
    got = "".join("".join(f.alignment.chars) for f in frames if f.alignment)
    assert got == "abcdef"


def test_mp3_frames_decode_and_no_character_is_lost_while_the_codec_holds_audio() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("mp3_22050_32"), RATE, frame_seconds=0.02)
    frames = audio.frames(chunk("abcdefghij", 0.3)) + audio.frames(chunk("klmno", 0.2))
    frames += audio.finish()
    assert all(f.audio for f in frames)
    assert "".join("".join(f.alignment.chars) for f in frames if f.alignment) == "abcdefghijklmno"
    with av.open(io.BytesIO(b"".join(f.audio for f in frames)), format="mp3") as container:
        decoded = [f.to_ndarray() for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    assert rate == 22050
    assert sum(d.shape[-1] for d in decoded) / rate == pytest.approx(0.5, abs=0.08)


def test_a_chunk_without_alignment_sends_none() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("ulaw_8000"), RATE)
    frames = audio.frames(chunk("abc", 0.5, aligned=False)) + audio.finish()
    assert all(f.alignment is None for f in frames)
    assert sum(len(f.audio) for f in frames) == 4000  # one byte per sample at 8 kHz


def test_a_closed_generation_produces_nothing_more() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("mp3_44100_128"), RATE)
    audio.frames(chunk("abc", 0.3))
    audio.close()
    assert audio.finish() == []
    with pytest.raises(RuntimeError):
        audio.frames(chunk("d", 0.1))


def test_a_chunk_at_another_rate_is_refused() -> None:
    audio = GenerationAudio(parse_elevenlabs_format("pcm_24000"), RATE)
    with pytest.raises(ValueError):
        audio.frames(AudioChunk(tone(0.1), 16000, "x"))

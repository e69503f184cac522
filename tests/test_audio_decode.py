"""Decoding uploads: common formats become mono float32; anything else is refused cleanly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from breathvoice.audio import decode_audio, encode_all, parse_openai_format, wav_bytes
from breathvoice.errors import InvalidRequest


def tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def sf_bytes(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_wav_decodes_to_its_samples_and_rate() -> None:
    samples = tone(0.5, 22050)
    decoded, rate = decode_audio(wav_bytes(samples, 22050))
    assert rate == 22050
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert np.abs(decoded - samples).max() < 1e-3


def test_stereo_is_averaged_to_mono() -> None:
    left, right = tone(0.3, 16000), np.zeros(4800, dtype=np.float32)
    data = sf_bytes(np.stack([left, right], axis=1), 16000, "WAV", "PCM_16")
    decoded, rate = decode_audio(data)
    assert rate == 16000
    assert np.abs(decoded - left / 2).max() < 1e-3


def test_a_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ref.flac"
    path.write_bytes(sf_bytes(tone(0.4, 24000), 24000, "FLAC"))
    decoded, rate = decode_audio(path)
    assert (len(decoded), rate) == (9600, 24000)


@pytest.mark.parametrize("response_format", ["mp3", "aac", "opus", "flac"])
def test_compressed_formats_decode(response_format: str) -> None:
    fmt = parse_openai_format(response_format)
    decoded, rate = decode_audio(encode_all(fmt, tone(0.8, 24000), 24000))
    assert rate == fmt.sample_rate
    assert abs(len(decoded) / rate - 0.8) < 0.1
    assert np.sqrt(np.mean(decoded**2)) > 0.25


GARBAGE = {
    "text": b"this is not audio at all " * 40,
    "random": np.random.default_rng(7).bytes(20_000),
    "truncated-wav": wav_bytes(tone(0.2, 16000), 16000)[:30],
    "riff-junk": b"RIFF" + np.random.default_rng(8).bytes(2000),
    "id3-junk": b"ID3" + np.random.default_rng(9).bytes(4000),
    "empty": b"",
}


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_is_refused_as_invalid_request(name: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_audio(GARBAGE[name])


def test_refusal_names_no_path(tmp_path: Path) -> None:
    path = tmp_path / "secret_folder" / "upload.wav"
    path.parent.mkdir()
    path.write_bytes(GARBAGE["random"])
    with pytest.raises(InvalidRequest) as caught:
        decode_audio(path)
    assert str(tmp_path) not in caught.value.message
    assert "upload.wav" not in caught.value.message


def test_non_finite_samples_are_refused() -> None:
    samples = tone(0.1, 16000)
    samples[10] = np.nan
    with pytest.raises(InvalidRequest):
        decode_audio(sf_bytes(samples, 16000, "WAV", "FLOAT"))


@pytest.mark.parametrize("response_format", ["wav", "mp3", "aac", "flac"])
def test_audio_longer_than_the_limit_is_refused(response_format: str) -> None:
    # Streamed wav and flac carry no length in their header: the limit must still hold.
    data = encode_all(parse_openai_format(response_format), tone(2.0, 24000), 24000)
    with pytest.raises(InvalidRequest, match="longer than 1 seconds"):
        decode_audio(data, max_seconds=1.0)
    decoded, rate = decode_audio(data, max_seconds=3.0)
    assert abs(len(decoded) / rate - 2.0) < 0.1

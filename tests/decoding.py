"""Decode what an HTTP client received, without the server's own audio code."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

# What FFmpeg calls the container each codec arrives in.
CONTAINERS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac"}


def decode(codec: str, data: bytes, pcm_rate: int = 24000) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate; ``pcm`` is raw s16le at ``pcm_rate``."""
    if codec == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768, pcm_rate
    if codec == "wav":
        info = sf.info(io.BytesIO(data))
        assert info.format == "WAV" and info.subtype == "PCM_16" and info.channels == 1
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        return samples, rate
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.format.name == CONTAINERS[codec], container.format.name
        stream = container.streams.audio[0]
        to_mono = av.AudioResampler(format="fltp", layout="mono")
        planes = [converted.to_ndarray().reshape(-1)
                  for frame in container.decode(stream)
                  for converted in to_mono.resample(frame)]
        rate = stream.codec_context.sample_rate
    return np.concatenate(planes).astype(np.float32), rate


def check_speech(samples: np.ndarray, rate: int, seconds: float, tolerance: float = 0.15) -> None:
    """Audible, and as long as ``seconds`` give or take codec padding."""
    assert len(samples) / rate == pytest.approx(seconds, abs=tolerance)
    rms = float(np.sqrt(np.mean(np.square(samples))))
    assert rms > 0.01, f"silence (rms {rms})"


"""What a user checks of a generated WAV file."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def check_wav(data: bytes, rate: int = 24000, min_seconds: float = 0.5) -> float:
    """Assert ``data`` is a 16-bit mono WAV at ``rate`` with audible speech; return seconds."""
    info = sf.info(io.BytesIO(data))
    assert info.format == "WAV" and info.subtype == "PCM_16", (info.format, info.subtype)
    assert info.channels == 1
    assert info.samplerate == rate
    samples, _ = sf.read(io.BytesIO(data), dtype="float32")
    seconds = len(samples) / rate
    assert seconds >= min_seconds, seconds
    rms = float(np.sqrt(np.mean(np.square(samples))))
    assert rms > 0.01, f"silence (rms {rms})"
    return seconds

"""What a user checks of a generated WAV file."""

from __future__ import annotations

import io

import numpy as np
import pyebur128
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


def reference_meter(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by libebur128: a meter that shares
    no code with the one the service uses (pyloudnorm, soxr oversampling)."""
    mode = pyebur128.MeasurementMode.MODE_I | pyebur128.MeasurementMode.MODE_TRUE_PEAK
    state = pyebur128.R128State(1, rate, mode)
    state.add_frames(samples.astype(np.float64), len(samples))
    peak = pyebur128.get_true_peak(state, 0)
    return pyebur128.get_loudness_global(state), 20 * np.log10(max(peak, 1e-10))


def band_levels(audio: np.ndarray) -> np.ndarray:
    """Mean level (dB) of the speech in 16 bands of 750 Hz (at 24 kHz): its timbre."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, 1024)[::256] * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1))[:, :512] ** 2
    loud = power.sum(axis=1) > 1e-3 * power.sum(axis=1).max()
    bands = power[loud].reshape(int(loud.sum()), 16, 32).sum(axis=2).mean(axis=0)
    return np.asarray(10 * np.log10(bands + 1e-12))

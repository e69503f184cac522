"""Loudness (ITU-R BS.1770 / EBU R128) measured, and delivery loudness applied.

:func:`measure` gives the integrated loudness (``pyloudnorm``'s BS.1770-4 meter: K-weighting,
400 ms blocks, absolute and relative gates), the sample peak, and the true peak (the peak
of the signal 4x oversampled, as BS.1770's annex 2 estimates it).

:func:`normalise` brings a take to a target loudness under a true-peak ceiling: one gain,
then a look-ahead limiter that turns the gain down smoothly where a peak would pass the
ceiling, so nothing is clipped. The few dB a limiter takes off the peaks also take a
little off the loudness, so gain and limiter run again until the loudness is on target.

Named presets (:data:`PRESETS`): ``podcast`` -16 LUFS, ``game`` -18 LUFS, ``broadcast``
-23 LUFS (EBU R128), all with a -1 dBTP ceiling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from breathvoice.engines.base import FloatAudio
from breathvoice.errors import InvalidRequest

__all__ = ["PRESETS", "Loudness", "LoudnessTarget", "loudness_target", "measure", "normalise",
           "true_peak"]

OVERSAMPLE = 4
LOOKAHEAD_SECONDS = 0.005
_MIN_LUFS = -70.0
"""BS.1770's absolute gate: anything quieter measures as silence."""


@dataclass(frozen=True)
class LoudnessTarget:
    target_lufs: float = -16.0
    true_peak_db: float = -1.0

    def __post_init__(self) -> None:
        if not -40.0 <= self.target_lufs <= -5.0:
            raise InvalidRequest("loudness target_lufs must be between -40 and -5")
        if not -9.0 <= self.true_peak_db <= 0.0:
            raise InvalidRequest("loudness true_peak_db must be between -9 and 0")


PRESETS = {
    "podcast": LoudnessTarget(-16.0, -1.0),
    "game": LoudnessTarget(-18.0, -1.0),
    "broadcast": LoudnessTarget(-23.0, -1.0),
}


def loudness_target(spec: str | Mapping[str, float] | None) -> LoudnessTarget | None:
    """What a request asks for: a preset's name, ``{target_lufs, true_peak_db}``, or None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        preset = PRESETS.get(spec.strip().lower())
        if preset is None:
            raise InvalidRequest(f"unknown loudness preset '{spec}'; use one of "
                                 f"{', '.join(PRESETS)} or {{target_lufs, true_peak_db}}")
        return preset
    return LoudnessTarget(**spec)


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float | None
    """None for audio that is silent or shorter than one 400 ms block."""
    sample_peak_db: float
    true_peak_db: float


def _db(amplitude: float) -> float:
    return float(20 * np.log10(max(amplitude, 1e-10)))


def integrated_lufs(samples: FloatAudio, rate: int) -> float | None:
    if len(samples) < int(0.4 * rate):
        return None
    value = float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))
    return value if np.isfinite(value) and value > _MIN_LUFS else None


def _oversampled(samples: FloatAudio, rate: int) -> FloatAudio:
    up: FloatAudio = soxr.resample(samples.astype(np.float32), rate, rate * OVERSAMPLE,
                                   quality="HQ")
    return up


def true_peak(samples: FloatAudio, rate: int) -> float:
    """The true peak in dBTP (4x oversampled)."""
    if len(samples) == 0:
        return _db(0.0)
    return _db(float(np.max(np.abs(_oversampled(samples, rate)))))


def measure(samples: FloatAudio, rate: int) -> Loudness:
    sample_peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return Loudness(integrated_lufs=integrated_lufs(samples, rate),
                    sample_peak_db=_db(sample_peak), true_peak_db=true_peak(samples, rate))


def _limit(samples: FloatAudio, rate: int, ceiling: float) -> FloatAudio:
    """Turn the gain down around every (true) peak above ``ceiling``, smoothly."""
    up = np.abs(_oversampled(samples, rate))
    peaks = up[: len(samples) * OVERSAMPLE].reshape(-1, OVERSAMPLE).max(axis=1)
    if len(peaks) < len(samples):
        peaks = np.pad(peaks, (0, len(samples) - len(peaks)))
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-10))
    if needed.min() >= 1.0:
        return samples
    width = max(1, int(LOOKAHEAD_SECONDS * rate))
    # Hold the lowest gain over ±width, then average over ±width/2: every point of the
    # smoothed gain is an average of values at or below what that point needs.
    held = minimum_filter1d(needed, size=2 * width + 1, mode="nearest")
    gain = uniform_filter1d(held, size=width + 1, mode="nearest")
    limited: FloatAudio = (samples * gain).astype(np.float32)
    return limited


def normalise(samples: FloatAudio, rate: int, target: LoudnessTarget) -> FloatAudio:
    """``samples`` at ``target.target_lufs`` with true peaks at or below the ceiling.

    Silent audio (or audio too short to measure) is only limited, never amplified.
    """
    ceiling = 10 ** ((target.true_peak_db - 0.1) / 20)  # 0.1 dB for the encoder's rounding
    out = samples.astype(np.float32)
    for _ in range(8):
        loudness = integrated_lufs(out, rate)
        if loudness is None:
            break
        gain_db = target.target_lufs - loudness
        if abs(gain_db) < 0.1:
            break
        out = (out * 10 ** (gain_db / 20)).astype(np.float32)
        out = _limit(out, rate, ceiling)
    out = _limit(out, rate, ceiling)
    # the limiter's own interpolation can leave a hair above: a last plain gain removes it
    over = 10 ** ((true_peak(out, rate) - target.true_peak_db + 0.05) / 20)
    if over > 1.0:
        out = (out / over).astype(np.float32)
    return out

"""Audio faults a listener would hear, found on mono float samples.

- clipping: samples at full scale (|x| ≥ 0.999);
- silence: a pause inside the line longer than a limit, and silence before the first or
  after the last sound;
- duration: speech far shorter or longer than its text predicts;
- level jump: the level of the voice stepping up or down suddenly, as where two takes
  were spliced or a gain changed mid-line;
- no speech: nothing above the silence floor.

The audio is looked at in 20 ms frames. A frame is sound when its level is above
``silence_db`` and within ``dynamic_range_db`` of the line's loud parts, so the noise
floor of a quiet recording counts as silence too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from breathvoice.engines.base import FloatAudio

__all__ = ["FAIL", "WARN", "Fault", "Limits", "find_faults", "speech_span"]

WARN = "warn"
FAIL = "fail"
FRAME_SECONDS = 0.02
_BLOCK_FRAMES = 5
"""Level jumps compare 100 ms blocks of sound."""

SECONDS_PER_UNIT = {"zh": 0.24, "ja": 0.13, "en": 0.066}
"""Typical speaking time per unit of text: Chinese character, Japanese character, English
character (letters, spaces and punctuation), measured on the embedded engine's voices."""


@dataclass(frozen=True)
class Limits:
    clip_level: float = 0.999
    clip_fail_fraction: float = 0.001
    """Clipping is a warning below this fraction of the samples, a failure above."""
    silence_db: float = -60.0
    dynamic_range_db: float = 40.0
    max_pause_seconds: float = 1.2
    max_edge_silence_seconds: float = 1.0
    duration_ratio_warn: float = 1.8
    """Speech this many times longer or shorter than the text predicts is a warning ..."""
    duration_ratio_fail: float = 3.0
    """... and this many times a failure."""
    level_jump_db: float = 15.0


@dataclass(frozen=True)
class Fault:
    kind: str
    """clipping, pause, leading_silence, trailing_silence, duration, level_jump, no_speech"""
    severity: str
    """'warn' or 'fail'"""
    message: str
    at_seconds: float | None = None


def _frame_levels(samples: FloatAudio, rate: int) -> FloatAudio:
    size = max(1, int(rate * FRAME_SECONDS))
    count = len(samples) // size
    if count == 0:
        return np.zeros(0, np.float32)
    frames = samples[: count * size].reshape(count, size).astype(np.float64)
    power = np.mean(frames * frames, axis=1)
    levels: FloatAudio = (10 * np.log10(np.maximum(power, 1e-12))).astype(np.float32)
    return levels


def _sound_mask(levels: FloatAudio, limits: Limits) -> np.ndarray:
    if len(levels) == 0:
        return np.zeros(0, bool)
    loud = float(np.percentile(levels, 95))
    floor = max(limits.silence_db, loud - limits.dynamic_range_db)
    mask: np.ndarray = levels > floor
    return mask


def speech_span(samples: FloatAudio, rate: int, limits: Limits | None = None
                ) -> tuple[float, float] | None:
    """Seconds of the first and the end of the last frame of sound, or None if silent."""
    sound = _sound_mask(_frame_levels(samples, rate), limits or Limits())
    where = np.flatnonzero(sound)
    if len(where) == 0:
        return None
    return float(where[0] * FRAME_SECONDS), float((where[-1] + 1) * FRAME_SECONDS)


def find_faults(samples: FloatAudio, rate: int, text_units: int, language: str,
                limits: Limits | None = None) -> list[Fault]:
    """Every fault of the take; ``text_units`` is the script's length in scored units
    (characters for zh and ja; for en, characters of the text)."""
    limits = limits or Limits()
    faults = _clipping(samples, rate, limits)
    levels = _frame_levels(samples, rate)
    sound = _sound_mask(levels, limits)
    where = np.flatnonzero(sound)
    if len(where) == 0:
        return [*faults, Fault("no_speech", FAIL, "the take is silent: no speech was found")]
    duration = len(samples) / rate
    first, last = where[0] * FRAME_SECONDS, (where[-1] + 1) * FRAME_SECONDS
    if first > limits.max_edge_silence_seconds:
        faults.append(Fault("leading_silence", WARN,
                            f"{first:.1f} s of silence before the speech starts", 0.0))
    if duration - last > limits.max_edge_silence_seconds:
        faults.append(Fault("trailing_silence", WARN,
                            f"{duration - last:.1f} s of silence after the speech ends", last))
    faults += _pauses(where, limits)
    faults += _duration(last - first, text_units, language, limits)
    faults += _level_jumps(levels, sound, limits)
    return faults


def _clipping(samples: FloatAudio, rate: int, limits: Limits) -> list[Fault]:
    clipped = np.flatnonzero(np.abs(samples) >= limits.clip_level)
    if len(clipped) < 3:  # a peak that touches full scale once is not yet clipping
        return []
    fraction = len(clipped) / len(samples)
    severity = FAIL if fraction > limits.clip_fail_fraction else WARN
    at = float(clipped[0] / rate)
    return [Fault("clipping", severity,
                  f"clipped: {len(clipped)} samples at full scale ({fraction:.2%} of the take), "
                  f"the first at {at:.2f} s", at)]


def _pauses(where: np.ndarray, limits: Limits) -> list[Fault]:
    gaps = np.diff(where) - 1
    faults = []
    for index in np.flatnonzero(gaps * FRAME_SECONDS > limits.max_pause_seconds):
        at = float((where[index] + 1) * FRAME_SECONDS)
        faults.append(Fault("pause", WARN, f"a silence of {gaps[index] * FRAME_SECONDS:.1f} s "
                            f"inside the line at {at:.1f} s", at))
    return faults


def _duration(spoken: float, text_units: int, language: str, limits: Limits) -> list[Fault]:
    predicted = text_units * SECONDS_PER_UNIT.get(language, SECONDS_PER_UNIT["en"])
    if predicted < 0.5 or spoken <= 0:
        return []  # too short a text to predict its length
    ratio = spoken / predicted
    worst = max(ratio, 1 / ratio)
    if worst < limits.duration_ratio_warn:
        return []
    severity = FAIL if worst >= limits.duration_ratio_fail else WARN
    pace = "longer" if ratio > 1 else "shorter"
    return [Fault("duration", severity, f"the speech lasts {spoken:.1f} s, {worst:.1f} times "
                  f"{pace} than the text's usual {predicted:.1f} s")]


def _level_jumps(levels: FloatAudio, sound: np.ndarray, limits: Limits) -> list[Fault]:
    count = len(levels) // _BLOCK_FRAMES
    if count == 0:
        return []
    power = 10 ** (levels[: count * _BLOCK_FRAMES].reshape(count, _BLOCK_FRAMES) / 10)
    voiced = sound[: count * _BLOCK_FRAMES].reshape(count, _BLOCK_FRAMES).sum(axis=1) >= 4
    block_db = 10 * np.log10(power.mean(axis=1))[voiced]
    block_at = np.flatnonzero(voiced) * _BLOCK_FRAMES * FRAME_SECONDS
    side = 4  # 400 ms of sound each side of a step
    if len(block_db) < 2 * side:
        return []
    windows = sliding_window_view(block_db, side)
    medians = np.median(windows, axis=1)
    steps = medians[side:] - medians[: len(medians) - side]
    index = int(np.argmax(np.abs(steps)))
    step = float(steps[index])
    if abs(step) <= limits.level_jump_db:
        return []
    at = float(block_at[index + side])
    way = "up" if step > 0 else "down"
    return [Fault("level_jump", WARN, f"the level jumps {way} by {abs(step):.0f} dB at "
                  f"{at:.1f} s", at)]

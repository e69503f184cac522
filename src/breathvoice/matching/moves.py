"""How an emotion's controls move from the main voice's, and how a move or a match shrinks.

- :func:`emotion_move`: the main (base) voice with pace, pitch level and range and loudness
  moved as far as an emotion clip is from the main clip, and the targets of that move;
- :func:`correct`: a move's controls changed by what its renders missed;
- :func:`shrink_emotion`: part of an emotion's pace and pitch move kept;
- :func:`shrink_voice`: part of the way from the stock voice to a matched voice.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from breathvoice.engines.base import VoiceState
from breathvoice.engines.kokoro.controls import TIMBRE_OFFSETS_INPUT
from breathvoice.matching.analysis import Prosody, level_gain

__all__ = ["PACE_TOLERANCE", "PITCH_TOLERANCE", "RANGE_LIMITS", "SPEED_LIMITS", "correct",
           "emotion_move", "pace_response", "ratio", "shrink_emotion", "shrink_voice"]

PACE_TOLERANCE = 0.04
"""A pace ratio within 4 % of the clip's needs no corrective render."""
PITCH_TOLERANCE = 0.03
"""About half a semitone (log ratio)."""
RESPONSE_LIMITS = (0.4, 1.5)
RATE_GAIN = 1.7
"""Without a pace from the recogniser, the rhythm measure's ratio (which moves about as
the true rate**0.6) is undone with this."""
SPEED_LIMITS = (0.7, 1.4)
RANGE_LIMITS = (0.5, 2.0)
"""Flatter than half the model's range cost intelligibility in the benchmark (Chinese
speech keeps more: see :data:`~breathvoice.engines.kokoro.controls.TONAL_MIN_RANGE`)."""


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if value > 0 and reference > 0 else 0.0


def emotion_move(base: VoiceState, measured: Prosody, pace: float,
                 started: float) -> tuple[VoiceState, dict[str, float]]:  # fmt: skip
    """The base voice with its prosody moved as far as this clip (``measured``, ``pace``
    in syllables per second, 0 if unknown) is from the base clip, and the targets: ratios
    of ``pace``, ``f0_median`` and ``f0_range``, ``level_db`` difference."""
    before = base.info["reference_prosody"]
    targets = {"level_db": measured.level_db - before["level_db"]}
    if pace > 0 and float(base.info.get("reference_pace", 0.0)) > 0:
        targets["pace"] = pace / float(base.info["reference_pace"])
    elif measured.rate > 0 and before["rate"] > 0:
        targets["pace"] = (measured.rate / before["rate"]) ** RATE_GAIN
    if measured.f0_median > 0 and before["f0_median"] > 0:
        targets["f0_median"] = measured.f0_median / before["f0_median"]
    if measured.f0_range > 0.5 and before["f0_range"] > 0.5:
        targets["f0_range"] = measured.f0_range / before["f0_range"]
    info = dict(base.info)
    for key in ("intelligibility", "guard_measure"):
        info.pop(key, None)
    info.update(
        method="matched_prosody",
        pitch_shift=round(float(info.get("pitch_shift", 0.0))
                          + float(np.log(targets.get("f0_median", 1.0))), 4),
        pitch_range=round(float(np.clip(float(info.get("pitch_range", 1.0))
                                        * targets.get("f0_range", 1.0), *RANGE_LIMITS)), 4),
        speed=round(float(np.clip(float(info.get("speed", 1.0)) * targets.get("pace", 1.0),
                                  *SPEED_LIMITS)), 4),
        gain_db=round(level_gain(float(info.get("gain_db", 0.0)) + targets["level_db"]), 2),
        reference_prosody=measured.as_dict(),
        reference_pace=round(pace, 3),
        seconds=round(time.perf_counter() - started, 2),
    )  # fmt: skip
    return VoiceState(engine=base.engine, arrays=dict(base.arrays), info=info), targets


def correct(emotion: VoiceState, before: dict[str, Any], after: dict[str, float],
            targets: dict[str, float], response: float = 1.0) -> VoiceState | None:  # fmt: skip
    """The emotion's controls moved by what its renders missed (``after`` against the
    base voice's ``before``), or None if close enough. The speed moves by the pace missed
    over ``response`` (how the renders' pace has followed the speed control: the log
    ratio of their pace changes over that of the speeds, see :func:`pace_response`)."""
    info = dict(emotion.info)
    pace = ratio(after["pace"], before["pace"])
    f0 = ratio(after["f0_median"], before["f0_median"])
    miss_pace = np.log(targets["pace"] / pace) if pace and targets.get("pace") else 0.0
    miss_f0 = np.log(targets["f0_median"] / f0) if f0 and targets.get("f0_median") else 0.0
    if abs(miss_pace) <= PACE_TOLERANCE and abs(miss_f0) <= PITCH_TOLERANCE:
        return None
    info["speed"] = round(float(np.clip(info.get("speed", 1.0) * np.exp(miss_pace / response),
                                        *SPEED_LIMITS)), 4)
    info["pitch_shift"] = round(float(info.get("pitch_shift", 0.0) + miss_f0), 4)
    spread = ratio(after["f0_range"], before["f0_range"])
    if spread and targets.get("f0_range"):
        info["pitch_range"] = round(float(np.clip(float(info.get("pitch_range", 1.0))
                                                  * targets["f0_range"] / spread,
                                                  *RANGE_LIMITS)), 4)  # fmt: skip
    if "level_db" in targets:
        heard = after["level_db"] - before["level_db"]
        info["gain_db"] = round(level_gain(float(info.get("gain_db", 0.0))
                                           + targets["level_db"] - heard), 2)  # fmt: skip
    if info == emotion.info:  # at a limit: another render would not move
        return None
    return VoiceState(engine=emotion.engine, arrays=emotion.arrays, info=info)


def pace_response(speeds: tuple[float, float], paces: tuple[float, float]) -> float:
    """How the pace of renders followed a change of speed (1: one for one), from two
    renders, within :data:`RESPONSE_LIMITS`; 1 when the speeds were too close to tell."""
    moved = np.log(speeds[1] / speeds[0])
    if abs(moved) < 0.02 or min(paces) <= 0:
        return 1.0
    return float(np.clip(np.log(paces[1] / paces[0]) / moved, *RESPONSE_LIMITS))


def shrink_emotion(emotion: VoiceState, base: VoiceState, pace: float,
                   pitch: float) -> VoiceState:  # fmt: skip
    """``emotion`` with ``pace`` of its speed change and ``pitch`` of its pitch change
    (level and range) from ``base`` (log-linear shares)."""
    info = dict(emotion.info)

    def part(key: str, default: float, share: float) -> float:
        here, there = float(info.get(key, default)), float(base.info.get(key, default))
        return float(there * (here / there) ** share)

    info["speed"] = round(part("speed", 1.0, pace), 4)
    info["pitch_range"] = round(part("pitch_range", 1.0, pitch), 4)
    shift = float(info.get("pitch_shift", 0.0))
    there = float(base.info.get("pitch_shift", 0.0))
    info["pitch_shift"] = round(there + pitch * (shift - there), 4)
    return VoiceState(engine=emotion.engine, arrays=emotion.arrays, info=info)


def shrink_voice(matched: VoiceState, stock: VoiceState, share: float) -> VoiceState:
    """``share`` of the way from the stock voice to ``matched``: style, timbre offsets,
    tone correction, pitch shift and range (the gain stays)."""
    arrays = dict(matched.arrays)
    stock_style = np.asarray(stock.arrays["style"], np.float32)
    arrays["style"] = (stock_style + share * (arrays["style"] - stock_style)).astype(np.float32)
    for key in (TIMBRE_OFFSETS_INPUT, "eq"):
        if key in arrays:
            arrays[key] = (share * arrays[key]).astype(np.float32)
    info = dict(matched.info)
    info["pitch_shift"] = round(share * float(info.get("pitch_shift", 0.0)), 4)
    info["pitch_range"] = round(float(info.get("pitch_range", 1.0)) ** share, 4)
    return VoiceState(engine=matched.engine, arrays=arrays, info=info)

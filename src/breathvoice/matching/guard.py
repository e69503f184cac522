"""Matched voices that stay intelligible, and emotions whose moves land where their clips are.

After a group's main voice is matched, and after each emotion's controls are chosen, the
guard renders its sentences (one per language the group is expected to speak) as the
engine serves the voice, recognises them (:class:`breathvoice.qa.recognise.Recogniser`)
and scores them (:func:`breathvoice.qa.score.score`) against the stock voice's error on
the same sentences:

- an emotion's pace, pitch and loudness are measured on those renders the same way as on
  the clips (pace: syllables per second of speech, the clip's syllables from what the
  recogniser heard; pitch and loudness: :func:`~breathvoice.matching.analysis.prosody`),
  relative to the main voice's renders and the main clip; one corrective step follows
  when a move misses its clip's by more than :data:`PACE_TOLERANCE` or
  :data:`PITCH_TOLERANCE`;
- when a voice's error in any language rises more than :data:`ERROR_TOLERANCE` above the
  stock voice's, its move shrinks: an emotion's pace first, then its pitch; the main
  voice's whole match (style, timbre offsets, tone correction, pitch) toward the stock
  voice. The voice's ``info["intelligibility"]`` records the measured errors and the
  shrink factors (1: the move as chosen).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from breathvoice.engines.base import FloatAudio, VoiceState
from breathvoice.engines.kokoro.controls import TIMBRE_OFFSETS_INPUT
from breathvoice.matching.analysis import Prosody, level_gain, prosody, speaking_rate
from breathvoice.qa.score import score

__all__ = ["GUARD_SENTENCES", "Guard", "Hear", "Listener", "Speak", "emotion_move",
           "shrink_emotion", "shrink_voice"]

SAMPLE_RATE = 24000
GUARD_SENTENCES = {
    "zh": "我们明天早上八点在学校门口见面，别迟到了。",
    "en": "We will meet at the school gate at eight tomorrow, so please do not be late.",
}
"""Not the probe's sentences (the search fits those) nor the benchmark's held-out ones."""
ERROR_TOLERANCE = 0.02
PACE_TOLERANCE = 0.04
"""A pace ratio within 4 % of the clip's needs no corrective render."""
PITCH_TOLERANCE = 0.03
"""About half a semitone (log ratio)."""
EMOTION_STEPS = ((0.5, 1.0), (0.0, 1.0), (0.0, 0.5))
"""(pace, pitch) shares of an emotion's move tried, in order, while it is too hard to
understand; past the last, the emotion speaks as the main voice (which passed)."""
RATE_GAIN = 1.7
"""Without a pace from the recogniser, the rhythm measure's ratio (which moves about as
the true rate**0.6) is undone with this."""
SPEED_LIMITS = (0.7, 1.4)
RANGE_LIMITS = (0.5, 2.0)
"""Flatter than half the model's range cost intelligibility in the benchmark."""
VOICE_STEPS = (0.6, 0.3)
"""Shares of the main voice's match tried; past the last, the stock voice's own sound."""

Speak = Callable[[VoiceState, str, str], FloatAudio]
"""Renders a sentence in a language with a voice, as served, at :data:`SAMPLE_RATE`."""
Hear = Callable[[FloatAudio, int, str | None], tuple[str, str]]
"""What was said in a clip and in which language (detected when None is given)."""


@dataclass(frozen=True)
class Listened:
    errors: dict[str, float]
    """Error rate per language (CER zh, WER en)."""
    audio: dict[str, FloatAudio]


class Listener:
    """:data:`Hear` on the process's one recogniser for matching (loaded on first use)."""

    _lock = threading.Lock()
    _shared: Listener | None = None

    def __init__(self) -> None:
        from breathvoice.qa.recognise import Recogniser

        # no niceness of its own: its thread, made by the first caller (the matching's
        # niced worker on a server), inherits that caller's
        self.recogniser = Recogniser(threads=min(2, os.cpu_count() or 1), nice=0)

    @classmethod
    def shared(cls) -> Listener:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def hear(self, samples: FloatAudio, sample_rate: int,
             language: str | None) -> tuple[str, str]:  # fmt: skip
        heard = self.recogniser.transcribe(samples, sample_rate, language)
        return heard.text, heard.language


class Guard:
    """Renders, recognises and scores the guard sentences in ``languages``."""

    def __init__(self, speak: Speak, hear: Hear, languages: Sequence[str] = ("zh", "en"),
                 sentences: dict[str, str] | None = None) -> None:
        self.speak = speak
        self.hear = hear
        self.sentences = sentences or GUARD_SENTENCES
        self.languages = tuple(lang for lang in languages if lang in self.sentences)
        self._stock: dict[str, dict[str, float]] = {}

    def render(self, voice: VoiceState) -> dict[str, FloatAudio]:
        return {lang: self.speak(voice, self.sentences[lang], lang) for lang in self.languages}

    def errors(self, audio: dict[str, FloatAudio]) -> dict[str, float]:
        return {lang: score(self.sentences[lang], self.hear(clip, SAMPLE_RATE, lang)[0],
                            lang).error_rate for lang, clip in audio.items()}  # fmt: skip

    def stock_errors(self, name: str, voice: VoiceState) -> dict[str, float]:
        """The stock voice's errors (kept per voice: stock voices never change)."""
        if name not in self._stock:
            self._stock[name] = self.errors(self.render(voice))
        return self._stock[name]

    def clip_pace(self, samples: FloatAudio, sample_rate: int) -> tuple[float, str]:
        """Syllables per second of speech in a clip (from what the recogniser heard), and
        the language it heard."""
        text, language = self.hear(samples, sample_rate, None)
        return speaking_rate(samples, sample_rate, text, language), language

    def pace(self, audio: dict[str, FloatAudio]) -> float:
        rates = [speaking_rate(clip, SAMPLE_RATE, self.sentences[lang], lang)
                 for lang, clip in audio.items()]  # fmt: skip
        return float(np.exp(np.mean(np.log(rates)))) if rates and min(rates) > 0 else 0.0

    def measure(self, audio: dict[str, FloatAudio]) -> dict[str, float]:
        """Pace, pitch and loudness of a voice's renders, as measured on clips."""
        heard = prosody(np.concatenate(list(audio.values())), SAMPLE_RATE)
        return {**heard.as_dict(), "pace": round(self.pace(audio), 3)}

    def protect_voice(self, matched: VoiceState, stock: VoiceState,
                      stock_name: str) -> VoiceState:  # fmt: skip
        """The main voice, its match shrunk toward the stock voice while it is too hard
        to understand; ``info["guard_measure"]`` keeps what its renders measured."""
        started = time.perf_counter()
        allowed = self.stock_errors(stock_name, stock)
        voice, chosen = matched, 1.0
        audio = self.render(voice)
        errors = self.errors(audio)
        for share in (*VOICE_STEPS, 0.0):
            if _passes(errors, allowed):
                break
            voice, chosen = shrink_voice(matched, stock, share), share
            audio = self.render(voice)
            errors = allowed if share == 0.0 else self.errors(audio)
        info = dict(voice.info)
        info["guard_measure"] = self.measure(audio)
        info["intelligibility"] = _record(errors, allowed, {"voice": chosen}, started)
        return VoiceState(engine=voice.engine, arrays=voice.arrays, info=info)

    def fit_emotion(self, emotion: VoiceState, base: VoiceState,
                    targets: dict[str, float]) -> VoiceState:  # fmt: skip
        """``emotion`` (the base voice with moved controls) corrected so its renders move
        from the base voice's as ``targets`` say (ratios ``pace``, ``f0_median``,
        ``f0_range``; ``level_db`` difference), then shrunk while too hard to understand."""
        started = time.perf_counter()
        allowed = base.info.get("intelligibility", {}).get("stock_error")
        before = base.info.get("guard_measure") or self.measure(self.render(base))
        audio = self.render(emotion)
        corrected = _correct(emotion, before, self.measure(audio), targets)
        if corrected is not None:
            emotion = corrected
            audio = self.render(emotion)
        errors = self.errors(audio)
        allowed = allowed or errors
        chosen, shares = emotion, (1.0, 1.0)
        for step in (*EMOTION_STEPS, (0.0, 0.0)):
            if _passes(errors, allowed):
                break
            shares = step
            chosen = shrink_emotion(emotion, base, *step)
            audio = self.render(chosen)
            errors = self.errors(audio) if step != (0.0, 0.0) else allowed
        measured = self.measure(audio)
        info = dict(chosen.info)
        info["intelligibility"] = {
            **_record(errors, allowed, {"pace": shares[0], "pitch": shares[1]}, started),
            "pace_ratio": _ratio(measured["pace"], before["pace"]),
            "pace_target": round(targets.get("pace", 1.0), 3),
        }
        return VoiceState(engine=chosen.engine, arrays=chosen.arrays, info=info)


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


def _passes(errors: dict[str, float], allowed: dict[str, float]) -> bool:
    return all(errors[lang] <= allowed.get(lang, 0.0) + ERROR_TOLERANCE for lang in errors)


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if value > 0 and reference > 0 else 0.0


def _record(errors: dict[str, float], allowed: dict[str, float], shrink: dict[str, float],
            started: float) -> dict[str, object]:  # fmt: skip
    return {"error": {k: round(v, 4) for k, v in errors.items()},
            "stock_error": {k: round(v, 4) for k, v in allowed.items()},
            "shrink": shrink, "seconds": round(time.perf_counter() - started, 2)}


def _correct(emotion: VoiceState, before: dict[str, float], after: dict[str, float],
             targets: dict[str, float]) -> VoiceState | None:  # fmt: skip
    """The emotion's controls moved by what its renders missed, or None if close enough."""
    info = dict(emotion.info)
    pace = _ratio(after["pace"], before["pace"])
    f0 = _ratio(after["f0_median"], before["f0_median"])
    miss_pace = np.log(targets["pace"] / pace) if pace and targets.get("pace") else 0.0
    miss_f0 = np.log(targets["f0_median"] / f0) if f0 and targets.get("f0_median") else 0.0
    if abs(miss_pace) <= PACE_TOLERANCE and abs(miss_f0) <= PITCH_TOLERANCE:
        return None
    info["speed"] = round(float(np.clip(info.get("speed", 1.0) * np.exp(miss_pace),
                                        *SPEED_LIMITS)), 4)
    info["pitch_shift"] = round(float(info.get("pitch_shift", 0.0) + miss_f0), 4)
    spread = _ratio(after["f0_range"], before["f0_range"])
    if spread and targets.get("f0_range"):
        info["pitch_range"] = round(float(np.clip(float(info.get("pitch_range", 1.0))
                                                  * targets["f0_range"] / spread,
                                                  *RANGE_LIMITS)), 4)  # fmt: skip
    if "level_db" in targets:
        heard = after["level_db"] - before["level_db"]
        info["gain_db"] = round(level_gain(float(info.get("gain_db", 0.0))
                                           + targets["level_db"] - heard), 2)  # fmt: skip
    return VoiceState(engine=emotion.engine, arrays=emotion.arrays, info=info)


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

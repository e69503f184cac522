"""Matched voices that stay intelligible, and emotions whose moves land where their clips are.

After a group's main voice is matched, and after each emotion's controls are chosen, the
guard renders its sentences (:data:`~breathvoice.matching.guard_hearing.GUARD_SENTENCES`,
a few per language the group is expected to speak) as the engine serves the voice,
recognises each language's renders in one pass
(:class:`breathvoice.qa.recognise.Recogniser`) and scores them
(:func:`breathvoice.qa.score.score`, Chinese with tones: a flattened pitch range costs
them) against the stock voice's error on the same sentences (see
:mod:`breathvoice.matching.guard_hearing`):

- an emotion's pace, pitch and loudness are measured on those renders the same way as on
  the clips (pace: syllables per second of speech, the clip's syllables from what the
  recogniser heard; pitch and loudness: :func:`~breathvoice.matching.analysis.prosody`),
  relative to the main voice's renders and the main clip; up to :data:`CORRECTIONS`
  corrective steps follow while a move misses its clip's by more than
  :data:`~breathvoice.matching.moves.PACE_TOLERANCE` or
  :data:`~breathvoice.matching.moves.PITCH_TOLERANCE`;
- when a voice's error in any language rises above the stock voice's by more than the
  language's tolerance (:meth:`~breathvoice.matching.guard_hearing.Hearing.tolerance_for`),
  its move shrinks: an emotion's pace first (the largest share that passes), then its
  pitch; the main voice's whole match
  toward the stock voice. ``info["intelligibility"]`` records the errors, the stock
  voice's errors and noise, the tolerances and the shrink factors (1: the move as chosen).

A language's sentences are rendered side by side (``workers`` at once) and recognised
while the next language renders.
"""

from __future__ import annotations

import time
from typing import Any

from breathvoice.engines.base import VoiceState
from breathvoice.matching.guard_hearing import Hearing
from breathvoice.matching.moves import (
    correct,
    pace_response,
    ratio,
    shrink_emotion,
    shrink_voice,
)

__all__ = ["Guard"]

CORRECTIONS = 2
"""Corrective renders of an emotion's move at most (the model's pace does not follow its
speed control one for one)."""
PACE_HALVINGS = 3
"""An emotion too hard to understand keeps the largest share of its pace move that passes,
found by halving (to an eighth: 1/2, then 1/4 or 3/4, ...)."""
PITCH_STEPS = ((0.0, 1.0), (0.0, 0.5))
"""(pace, pitch) shares tried, in order, when no pace share passed; past the last, the
emotion speaks as the main voice (which passed)."""
VOICE_STEPS = (0.6, 0.3)
"""Shares of the main voice's match tried; past the last, the stock voice's own sound."""


class Guard(Hearing):
    """Keeps a matched voice intelligible and fits each emotion's move to its clip, by
    what the guard hears (:class:`~breathvoice.matching.guard_hearing.Hearing`)."""

    def protect_voice(self, matched: VoiceState, stock: VoiceState,
                      stock_name: str) -> VoiceState:  # fmt: skip
        """The main voice, its match shrunk toward the stock voice while it is too hard
        to understand; ``info["guard_measure"]`` keeps what its renders measured."""
        started = time.perf_counter()
        baseline = self.stock_errors(stock_name, stock)
        voice, chosen = matched, 1.0
        audio, errors = self.listen(voice)
        for share in (*VOICE_STEPS, 0.0):
            passed, baseline = self.judge(baseline, errors)
            if passed:
                break
            voice, chosen = shrink_voice(matched, stock, share), share
            audio, errors = self.listen(voice, recognise=share != 0.0)
            errors = errors or baseline.errors
        info = dict(voice.info)
        info["guard_measure"] = {**self.measure(audio), "sentences": self.key}
        info["intelligibility"] = baseline.record(errors, {"voice": chosen}, started)
        return VoiceState(engine=voice.engine, arrays=voice.arrays, info=info)

    def fit_emotion(self, emotion: VoiceState, base: VoiceState,
                    targets: dict[str, float]) -> VoiceState:  # fmt: skip
        """``emotion`` (the base voice with moved controls) corrected so its renders move
        from the base voice's as ``targets`` say (ratios ``pace``, ``f0_median``,
        ``f0_range``; ``level_db`` difference), then shrunk while too hard to understand."""
        started = time.perf_counter()
        recorded = base.info.get("intelligibility", {})
        before: dict[str, Any] = base.info.get("guard_measure") or {}
        if before.get("sentences") != self.key:  # measured on other sentences (or never)
            before = self.measure(self.listen(base, recognise=False)[0])
        audio, errors = self.listen(emotion, recognise=False)
        # (speed, pace) of the last two renders: the base voice's, then the emotion's
        tried = [(float(base.info.get("speed", 1.0)), float(before["pace"]))]
        for _ in range(CORRECTIONS):
            after = self.measure(audio)
            tried = [tried[-1], (float(emotion.info.get("speed", 1.0)), after["pace"])]
            speeds, paces = zip(*tried, strict=True)
            corrected = correct(emotion, before, after, targets, pace_response(speeds, paces))
            if corrected is None:
                break
            emotion = corrected
            audio, _ = self.listen(emotion, recognise=False)
        errors = self.errors(audio)
        baseline = self.baseline(recorded, errors)
        chosen, shares = emotion, (1.0, 1.0)
        passed, baseline = self.judge(baseline, errors)
        low, high = 0.0, 1.0  # pace shares: the largest that passed, the smallest that did not
        for _ in range(0 if passed else PACE_HALVINGS):
            share = (low + high) / 2
            trial = shrink_emotion(emotion, base, share, 1.0)
            heard = self.listen(trial)
            ok, baseline = self.judge(baseline, heard[1])
            if ok:
                low, chosen, shares, (audio, errors), passed = share, trial, (share, 1.0), heard, ok
            else:
                high = share
        for step in () if passed else (*PITCH_STEPS, (0.0, 0.0)):
            shares, chosen = step, shrink_emotion(emotion, base, *step)
            audio, errors = self.listen(chosen, recognise=step != (0.0, 0.0))
            errors = errors or baseline.errors
            if self.judge(baseline, errors)[0]:
                break
        measured = self.measure(audio)
        info = dict(chosen.info)
        info["intelligibility"] = {
            **baseline.record(errors, {"pace": shares[0], "pitch": shares[1]}, started),
            "pace_ratio": ratio(float(measured["pace"]), float(before["pace"])),
            "pace_target": round(targets.get("pace", 1.0), 3),
        }
        return VoiceState(engine=chosen.engine, arrays=chosen.arrays, info=info)

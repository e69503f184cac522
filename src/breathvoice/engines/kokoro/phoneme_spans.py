"""Phoneme spans, the unit :mod:`.g2p` produces, and the text rules that shape them.

How numbers and mixed tokens are read (2024年 → 二零二四, B1 → B 1, 3.5 → 3 point 5), which
language each token is read in, where a space phoneme joins two words, and how a text's
spans are cut into windows the model can read at once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from breathvoice.engines.kokoro.text import Token

log = logging.getLogger(__name__)

MAX_TOKENS = 510
"""Phonemes per model call (Kokoro's context, less the two pad tokens)."""

PUNCTUATION = {
    "，": ",", "、": ",", ",": ",", "。": ".", "．": ".", ".": ".", "！": "!", "!": "!",
    "？": "?", "?": "?", "；": ";", ";": ";", "：": ":", ":": ":", "…": "…", "—": "—",
    "–": "—", '"': '"', "“": "“", "”": "”", "«": "“", "»": "”", "《": "“", "》": "”",
    "「": "“", "」": "”", "『": "“", "』": "”", "【": "“", "】": "”", "(": "(", ")": ")",
}  # fmt: skip
OPENERS = frozenset("“(")
_EN_NUMBER_WORDS = {"%": "percent"}


@dataclass(frozen=True)
class PhonemeSpan:
    """Phonemes spoken for ``text[start:end]`` (only characters of the model vocabulary)."""

    start: int
    end: int
    phonemes: str
    new_word: bool = False
    """A word starts here: a space separates it from the word before."""


def chinese_number(number: str, following: str = "") -> str:
    """How a number inside Chinese text is read, in Han characters (2024年 → 二零二四)."""
    import cn2an  # type: ignore[import-untyped]

    digits = number.replace(",", "")
    reading: str = cn2an.transform(digits + following, "an2cn")
    if following and reading.endswith(following):
        reading = reading[: -len(following)]
    # Whatever cn2an left as digits (times, odd forms) is read digit group by group
    reading = re.sub(r"\d+", lambda m: str(cn2an.an2cn(m.group())), reading)
    return "".join(char for char in reading if "\u4e00" <= char <= "\u9fff")


def english_words(token: str, is_number: bool) -> list[str]:
    """The words espeak should read for one token: B1 → B 1, 3.5 → 3 point 5."""
    if is_number:
        words = []
        body, percent = (token[:-1], True) if token.endswith("%") else (token, False)
        body = re.sub(r"(?<=\d),(?=\d{3})", "", body)
        for index, part in enumerate(re.split(r"[.:,]", body)):
            if index and "." in body:
                words.append("point")
            words.append(part)
        return [*words, _EN_NUMBER_WORDS["%"]] if percent else words
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]?", token):
        return [letter for letter in token if letter.isalpha()]
    return [word for word in re.split(r"(?<=[^\W\d])(?=\d)|(?<=\d)(?=[^\W\d])", token) if word]



def token_languages(tokens: list[Token], has_kana: bool, default: str) -> list[str]:
    """Language of each token; numbers take the language of the nearest word."""
    words = {"zh": "ja" if has_kana else "zh", "en": "en", "ja": "ja"}
    langs = [words.get(token.script, token.script) for token in tokens]
    for index, token in enumerate(tokens):
        if token.script != "number":
            continue
        langs[index] = _neighbour_language(tokens, langs, index) or default
        if langs[index] == "ja" and not has_kana:
            langs[index] = "zh"
    return langs


def _neighbour_language(tokens: list[Token], langs: list[str], index: int) -> str | None:
    def scan(order: range, adjacent: bool) -> str | None:
        for other in order:
            if langs[other] in ("zh", "en", "ja"):
                return langs[other]
            if adjacent and tokens[other].script != "space":
                return None
        return None

    before, after = range(index - 1, -1, -1), range(index + 1, len(tokens))
    return (scan(before, True) or scan(after, True) or scan(before, False)
            or scan(after, False))  # fmt: skip


def join_words(spans: list[PhonemeSpan]) -> list[PhonemeSpan]:
    """Put a space phoneme after each word that another word (or opening mark) follows."""
    out = list(spans)
    last: int | None = None
    for index, span in enumerate(out):
        if not span.phonemes:
            continue
        if span.new_word and last is not None and out[last].phonemes[-1] not in OPENERS:
            out[last] = replace(out[last], phonemes=out[last].phonemes + " ")
        last = index
    return out


def fit_window(
    spans: list[PhonemeSpan], preferred_cuts: list[set[int]], limit: int = MAX_TOKENS
) -> list[list[PhonemeSpan]]:
    """Split spans into windows of at most ``limit`` phonemes.

    A window ends where ``preferred_cuts`` (sets of text positions, best first) allow,
    else at any span boundary; a single span longer than the window is truncated.
    """
    windows: list[list[PhonemeSpan]] = []
    rest = list(spans)
    while sum(len(span.phonemes) for span in rest) > limit:
        fill, fits = 0, 0
        for index, span in enumerate(rest):
            fill += len(span.phonemes)
            if fill > limit:
                break
            fits = index + 1
        if fits == 0:
            log.warning("a word longer than %d phonemes was cut short", limit)
            rest[0] = replace(rest[0], phonemes=rest[0].phonemes[:limit])
            fits = 1
        cut = fits
        for allowed in preferred_cuts:
            choices = [i for i in range(1, fits + 1) if i < len(rest) and rest[i].start in allowed]
            if choices:
                cut = max(choices)
                break
        windows.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        windows.append(rest)
    return windows

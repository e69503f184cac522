"""Text handling before phonemisation: normalise, cut into pieces, find language runs.

Everything here is pure and keeps indexes into the caller's text: :func:`normalize` never
changes the length, so a slice of the normalised text is the same slice of the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Pause = Literal["sentence", "clause", "none"]
Script = Literal["zh", "en", "ja", "number", "punct", "space", "other"]

SENTENCE_MARKS = "。！？!?…\n"
CLAUSE_MARKS = "，、；：,;:"
CLOSERS = "\"'”’」』）)]】》"
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof vs etc eg ie no fig approx dept est inc ltd co".split()
)

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff〇"
_KANA = r"\u3040-\u30ff\u31f0-\u31ff"
_LATIN = r"A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_TOKEN = re.compile(
    rf"(?P<number>\d+(?:[.,:]\d+)*%?)"
    rf"|(?P<en>[{_LATIN}](?:[{_LATIN}0-9]|['’\-.](?=[{_LATIN}0-9]))*)"
    rf"|(?P<zh>[{_HAN}])"
    rf"|(?P<ja>[{_KANA}])"
    rf"|(?P<space>\s)"
    rf"|(?P<punct>[^\w\s])"
    rf"|(?P<other>.)",
    re.DOTALL,
)
_SPEAKABLE = re.compile(rf"[0-9{_LATIN}{_HAN}{_KANA}]")
_EARLY_MIN_WEIGHT = 3.0
_EARLY_FALLBACK_WEIGHT = 10.0
_EARLY_CUT_WEIGHT = 6.0


@dataclass(frozen=True)
class TextPiece:
    """A slice ``text[start:end]`` synthesised in one model call, and the pause after it."""

    start: int
    end: int
    pause: Pause


@dataclass(frozen=True)
class Token:
    """A word, a Han character, a number, a mark or a space of the text."""

    script: Script
    start: int
    end: int


def normalize(text: str) -> str:
    """Width-fold and clean ``text`` character by character, keeping its length."""
    out = []
    for char in text:
        if char in "\r\t\v\f" or (unicodedata.category(char).startswith("C") and char != "\n"):
            out.append(" ")
            continue
        folded = unicodedata.normalize("NFKC", char)
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Split ``text[start:end]`` into tokens covering every character."""
    stop = len(text) if end is None else end
    tokens = []
    for match in _TOKEN.finditer(text, start, stop):
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.start(), match.end()))  # type: ignore[arg-type]
    return tokens


def is_speakable(text: str) -> bool:
    return _SPEAKABLE.search(text) is not None


def has_han(text: str) -> bool:
    return re.search(f"[{_HAN}]", text) is not None


def has_kana(text: str) -> bool:
    return re.search(f"[{_KANA}]", text) is not None


def pause_after(text: str) -> Pause:
    """The pause a piece ending like ``text`` calls for."""
    if text.endswith("\n"):
        return "sentence"
    tail = text.rstrip().rstrip(CLOSERS)
    if not tail:
        return "none"
    if tail[-1] in SENTENCE_MARKS or tail[-1] == ".":
        return "sentence"
    if tail[-1] in CLAUSE_MARKS:
        return "clause"
    return "none"


def _ends_sentence_at_period(text: str, index: int) -> bool:
    following = text[index + 1 : index + 2]
    if following and not (following.isspace() or following in CLOSERS or _is_cjk(following)):
        return False  # 3.5, U.S.A, example.com
    word = re.search(rf"[{_LATIN}]+$", text[:index])
    if word is None:
        return True
    if text[word.start() - 1 : word.start()] == ".":
        return False  # the last dot of e.g. or U.S.A.
    letters = word.group()
    return letters.lower() not in ABBREVIATIONS and not (len(letters) == 1 and letters.isupper())


def _is_cjk(char: str) -> bool:
    return re.match(rf"[{_HAN}{_KANA}。，、！？；：]", char) is not None


def _boundaries(text: str, start: int, end: int, sentences: bool) -> list[int]:
    """Cut positions in ``text[start:end]`` after sentence (or clause) marks."""
    cuts = []
    index = start
    while index < end:
        char = text[index]
        if sentences:
            hit = char in SENTENCE_MARKS or (char == "." and _ends_sentence_at_period(text, index))
        else:
            between_digits = (
                char in ",:"
                and text[index - 1 : index].isdigit()
                and text[index + 1 : index + 2].isdigit()
            )
            hit = char in CLAUSE_MARKS and not between_digits
        index += 1
        if not hit:
            continue
        while index < end and (text[index] in CLOSERS or text[index] in SENTENCE_MARKS + "."):
            index += 1
        while index < end and text[index].isspace():
            index += 1
        if index < end:
            cuts.append(index)
    return cuts


def sentence_cuts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    return _boundaries(text, start, len(text) if end is None else end, sentences=True)


def clause_cuts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    return _boundaries(text, start, len(text) if end is None else end, sentences=False)


def word_cuts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions where a new word starts: after spaces, and between Han characters."""
    cuts = []
    for token in tokenize(text, start, end):
        if token.start > start and token.script in ("en", "number", "zh", "ja"):
            cuts.append(token.start)
    return cuts


def _weight(text: str, start: int, end: int) -> float:
    """Rough count of words: a Latin word or number is one, a Han character half."""
    weights = {"en": 1.0, "number": 1.0, "zh": 0.5, "ja": 0.5}
    return sum(weights.get(token.script, 0.0) for token in tokenize(text, start, end))


def _early_cut(text: str, start: int, end: int) -> list[int]:
    """Where to end the first piece early: a clause end after a few words, else a word."""
    cut = _early_cut_at(text, start, end)
    return [] if cut is None else [cut]


def _early_cut_at(text: str, start: int, end: int) -> int | None:
    for cut in clause_cuts(text, start, end):
        weight = _weight(text, start, cut)
        if weight >= _EARLY_FALLBACK_WEIGHT:
            break
        if weight >= _EARLY_MIN_WEIGHT and _weight(text, cut, end) >= 1:
            return cut
    if _weight(text, start, end) < 2 * _EARLY_FALLBACK_WEIGHT:
        return None
    for cut in word_cuts(text, start, end):
        if _weight(text, start, cut) >= _EARLY_CUT_WEIGHT:
            return cut
    return None


def _spans(cuts: list[int], start: int, end: int) -> list[tuple[int, int]]:
    edges = [start, *cuts, end]
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


EarlyCut = Callable[[str, int, int], "list[int]"]
"""Where the first sentence of a stream is cut early, in order (none: keep it whole)."""


def plan_pieces(text: str, early_first_chunk: bool = False,
                early_cut: EarlyCut | None = None) -> list[TextPiece]:
    """Cut ``text`` into sentences, covering every character.

    A stretch with nothing to say (marks, spaces) joins the piece before it. With
    ``early_first_chunk`` the first sentence is cut where ``early_cut`` says (by default
    after its first clause of a few words or, when it has none and is long, after a few
    words), so the first audio comes sooner.
    """
    spans: list[tuple[int, int]] = []
    for start, end in _spans(sentence_cuts(text), 0, len(text)):
        if spans and not is_speakable(text[start:end]):
            spans[-1] = (spans[-1][0], end)
        elif len(spans) == 1 and not is_speakable(text[spans[0][0] : spans[0][1]]):
            spans[0] = (spans[0][0], end)
        else:
            spans.append((start, end))
    if early_first_chunk and spans:
        first_start, first_end = spans[0]
        cuts = (early_cut or _early_cut)(text, first_start, first_end)
        spans[0:1] = _spans(cuts, first_start, first_end)
    pieces = []
    for start, end in spans:
        pause = pause_after(text[start:end])
        pieces.append(TextPiece(start, end, pause))
    return pieces

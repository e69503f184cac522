"""Where a stream's first chunk ends: short, at the earliest natural boundary.

Time to first audio is the time to make the first chunk, so it should be short whatever
the punctuation: about half a second to a second of speech (the model's time grows with
the length, about 0.4 s of compute per second of speech on one idle core, so a first
clause of two seconds alone would miss a 0.6 s first audio). The cut is the first of:

1. a clause mark (``,`` ``，`` ``;`` ...) after at least :data:`MIN_SECONDS` of speech;
2. a phrase boundary after at least :data:`MIN_SECONDS`: before an English function word
   that opens a phrase (``and``, ``to``, ``with``, ``because`` ...) or a Chinese one
   (和、在、因为 ...), or after a Chinese particle (了、吗 ...);
   (the earliest of 1 and 2 wins; a clause may run to :data:`CLAUSE_MAX_SECONDS`, a
   phrase to :data:`PHRASE_MAX_SECONDS`);
3. else the first word boundary after :data:`WORD_SECONDS` (a Chinese word boundary
   from jieba, so no word is split).

A sentence that is short anyway (under :data:`SHORT_SENTENCE_SECONDS`) is not cut. The
speech length is estimated from the words (:func:`estimated_seconds`); the listening
checks of the seam are in ``docs/streaming.md``.

The chunk after it is cut the same way with every length :data:`RAMP` times as long
(:func:`ramped_cuts`): it is made while the first one plays, so it must take no longer
to make than the first takes to hear, or the listener hears a gap; later chunks have the
audio of both ahead of them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

from breathvoice.engines.kokoro.text import clause_cuts, tokenize

log = logging.getLogger(__name__)

MIN_SECONDS = 0.4
CLAUSE_MAX_SECONDS = 1.4
PHRASE_MAX_SECONDS = 1.4
WORD_SECONDS = 0.9
SHORT_SENTENCE_SECONDS = 2.2
MIN_REST_SECONDS = 0.5
RAMP = 2.0
SECONDS_PER_TOKEN = {"en": 0.32, "number": 0.45, "zh": 0.22, "ja": 0.15}
"""Rough speaking time of a Latin word, a number, a Han character, a kana."""

EN_PHRASE_OPENERS = frozenset(
    "and but or so because if when while whereas although though unless until since "
    "that which who whom whose where than as to in on at for with from about after before "
    "into onto over under through during without between against like of by then".split()
)
ZH_PHRASE_OPENERS = ("因为", "所以", "但是", "然后", "如果", "或者", "还是", "而且", "并且",
                     "可是", "不过", "因此", "于是", "和", "跟", "在", "把", "被", "给", "对",
                     "向", "从", "为", "让", "就", "再", "也", "都", "还")
ZH_PHRASE_CLOSERS = ("了", "着", "过", "吗", "呢", "吧")


def estimated_seconds(text: str, start: int, end: int) -> float:
    return sum(SECONDS_PER_TOKEN.get(token.script, 0.0) for token in tokenize(text, start, end))


def ramped_cuts(text: str, start: int, end: int) -> list[int]:
    """Where the first chunk of ``text[start:end]`` ends, and the one after it."""
    first = short_first_cut(text, start, end)
    if first is None:
        return []
    second = short_first_cut(text, first, end, RAMP)
    return [first] if second is None else [first, second]


def short_first_cut(text: str, start: int, end: int, scale: float = 1.0) -> int | None:
    """Where to end the first chunk of ``text[start:end]`` (one sentence); None: keep it.
    ``scale`` stretches every length bound (:data:`RAMP` for the chunk after it)."""
    total = estimated_seconds(text, start, end)
    if total < SHORT_SENTENCE_SECONDS * scale:
        return None

    def fits(cut: int, most: float) -> bool:
        before = estimated_seconds(text, start, cut)
        return MIN_SECONDS * scale <= before <= most * scale and total - before >= MIN_REST_SECONDS

    clauses = [cut for cut in clause_cuts(text, start, end) if fits(cut, CLAUSE_MAX_SECONDS)]
    words = list(_word_starts(text, start, end))
    phrases = [cut for cut, opens in words if opens and fits(cut, PHRASE_MAX_SECONDS)]
    if clauses or phrases:
        return min(clauses + phrases)
    for cut, _ in words:
        if (fits(cut, float("inf"))
                and estimated_seconds(text, start, cut) >= WORD_SECONDS * scale):
            return cut
    return None


def _word_starts(text: str, start: int, end: int) -> Iterator[tuple[int, bool]]:
    """Where words start in ``text[start:end]``, and whether a phrase may start there."""
    tokens = tokenize(text, start, end)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.script == "zh":
            run_end = index
            while run_end + 1 < len(tokens) and tokens[run_end + 1].script == "zh":
                run_end += 1
            run_start, stop = token.start, tokens[run_end].end
            for word_start, word in _chinese_words(text[run_start:stop]):
                at = run_start + word_start
                if at > start:
                    previous = text[run_start:at]
                    yield at, word.startswith(ZH_PHRASE_OPENERS) or previous.endswith(
                        ZH_PHRASE_CLOSERS)
            index = run_end + 1
            continue
        if token.script in ("en", "number", "ja") and token.start > start:
            word = text[token.start:token.end].lower()
            yield token.start, word in EN_PHRASE_OPENERS
        index += 1


def _chinese_words(run: str) -> list[tuple[int, str]]:
    """Each word of a Han run and where it starts (jieba's segmentation)."""
    with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import jieba

    return [(word_start, word) for word, word_start, _ in jieba.tokenize(run)]

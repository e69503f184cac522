"""The previous socket text buffer, kept as a test oracle (not used by the server).

This is ``TextBuffer`` as it was before boundaries were found in one pass over new text
(``src/breathvoice/streaming/buffer.py`` at commit b61e3ca). It rescans the whole buffer
with regular expressions that backtrack on runs of punctuation, so it is slow on hostile
input; it is the reference for where the current buffer must cut ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_CHUNK_LENGTH_SCHEDULE: tuple[int, ...] = (120, 160, 250, 290)
AUTO_MODE_MIN_CLAUSE = 40
WIDE_CHAR_WEIGHT = 3

_CLOSERS = "\"'”’)\\]」』）"
# ASCII punctuation ends a sentence only before whitespace ("3.14", "e.g." stay whole);
# CJK punctuation needs none. A newline always ends one.
_SENTENCE_END = re.compile(rf"[.!?…]+[{_CLOSERS}]*\s+|[。！？]+[{_CLOSERS}]*\s*|\n\s*")
_SENTENCE_END_AT_TEXT_END = re.compile(rf"[.!?…。！？]+[{_CLOSERS}]*\s*$")
_CLAUSE_END = re.compile(rf"[,;:][{_CLOSERS}]*\s+|[，、；：]\s*")
_WORD_END = re.compile(r"\s+")


def _weight(char: str) -> int:
    return WIDE_CHAR_WEIGHT if char >= "\u2e80" else 1


def weighted_length(text: str) -> int:
    """Length of ``text`` in Latin-letter equivalents."""
    return sum(_weight(char) for char in text)


def _index_at_weight(text: str, weight: float) -> int:
    """The smallest index whose prefix weighs at least ``weight``."""
    total = 0
    for index, char in enumerate(text):
        if total >= weight:
            return index
        total += _weight(char)
    return len(text)


def _last_end(pattern: re.Pattern[str], text: str, start: int) -> int | None:
    ends = [match.end() for match in pattern.finditer(text) if match.end() > start]
    return ends[-1] if ends else None


class TextBuffer:
    """Collects a context's text and says which pieces are ready for synthesis."""

    def __init__(
        self,
        schedule: Sequence[int] = DEFAULT_CHUNK_LENGTH_SCHEDULE,
        *,
        auto_mode: bool = False,
    ) -> None:
        self._text = ""
        self._releases = 0
        self._auto_mode = auto_mode
        self.schedule = schedule

    @property
    def schedule(self) -> tuple[int, ...]:
        return self._schedule

    @schedule.setter
    def schedule(self, schedule: Sequence[int]) -> None:
        if not schedule or min(schedule) < 1:
            raise ValueError("a chunk length schedule needs positive lengths")
        self._schedule = tuple(schedule)

    @property
    def text(self) -> str:
        """What is buffered and not yet released."""
        return self._text

    def append(self, text: str) -> list[str]:
        """Add text; return the pieces now ready to be spoken, in order (often none)."""
        self._text += text
        pieces = []
        while (piece := self._next_piece()) is not None:
            pieces.append(piece)
        return pieces

    def flush(self) -> str:
        """Release everything buffered (possibly ""), and restart the schedule."""
        text, self._text = self._text, ""
        self._releases = 0
        return text

    def _next_piece(self) -> str | None:
        cut = self._auto_cut() if self._auto_mode else self._scheduled_cut()
        if cut is None:
            return None
        piece, self._text = self._text[:cut], self._text[cut:]
        self._releases += 1
        return piece

    def _scheduled_cut(self) -> int | None:
        threshold = self._schedule[min(self._releases, len(self._schedule) - 1)]
        text = self._text
        if weighted_length(text) < threshold:
            return None
        start = _index_at_weight(text, threshold / 2) - 1
        for pattern in (_SENTENCE_END, _CLAUSE_END, _WORD_END):
            cut = _last_end(pattern, text, start)
            if cut is not None:
                return cut
        return len(text)

    def _auto_cut(self) -> int | None:
        text = self._text
        if not text.strip():
            return None
        cut = _last_end(_SENTENCE_END, text, 0)
        if _SENTENCE_END_AT_TEXT_END.search(text):
            cut = len(text)  # auto mode clients send whole sentences, often without a space
        if cut is not None:
            return cut
        start = _index_at_weight(text, AUTO_MODE_MIN_CLAUSE) - 1
        cut = _last_end(_CLAUSE_END, text, start)
        if cut is not None:
            return cut
        if weighted_length(text) >= max(self._schedule):
            return _last_end(_WORD_END, text, 0) or len(text)
        return None

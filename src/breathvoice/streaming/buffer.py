"""Text waiting to be spoken in one context, released by ElevenLabs' buffering rules.

- Schedule mode (the default): nothing is released until the buffer holds
  ``chunk_length_schedule[i]`` characters for the ``i``-th release (the last value repeats);
  then the text goes out up to its best boundary: the last sentence end, else the last
  clause end, else the last word end, never before half the threshold.
- Auto mode (``auto_mode=true``): the schedule is off; text goes out at every sentence end,
  at clause ends once a clause is long enough, and at a word end if the buffer grows past the
  largest schedule value without any punctuation.
- :meth:`TextBuffer.flush` releases everything and restarts the schedule.
- With pronunciation rules (a :class:`~.holdback.MatchGuard`), no cut falls inside a rule's
  string, and a flush keeps back a tail that may still grow into one (``"Breath"`` when a
  rule says ``"BreathVOICE"``) until more text comes or ``flush(complete=True)``.

Lengths are weighted: a CJK character carries about as much speech as three Latin letters,
so the same schedule gives Chinese and English text similar latency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from breathvoice.streaming.boundaries import Boundary, BoundaryScan, Segment
from breathvoice.streaming.holdback import MatchGuard

DEFAULT_CHUNK_LENGTH_SCHEDULE: tuple[int, ...] = (120, 160, 250, 290)
AUTO_MODE_MIN_CLAUSE = 40
WIDE_CHAR_WEIGHT = 3

_CLOSERS = Segment(re.escape("\"'”’)]」』）"), "*")
_SPACES = r"\s"
# ASCII punctuation ends a sentence only before whitespace ("3.14", "e.g." stay whole);
# CJK punctuation needs none. A newline always ends one.
SENTENCE_END = Boundary(
    (Segment(re.escape(".!?…"), "+"), _CLOSERS, Segment(_SPACES, "+")),
    (Segment("。！？", "+"), _CLOSERS, Segment(_SPACES, "*")),
    (Segment(r"\n"), Segment(_SPACES, "*")),
)
SENTENCE_END_AT_TEXT_END = Boundary(
    (Segment(re.escape(".!?…") + "。！？", "+"), _CLOSERS, Segment(_SPACES, "*")),
)
"""Open at the end of a text that ends with sentence punctuation (then closers, spaces)."""
CLAUSE_END = Boundary(
    (Segment(",;:"), _CLOSERS, Segment(_SPACES, "+")),
    (Segment("，、；："), Segment(_SPACES, "*")),
)
WORD_END = Boundary((Segment(_SPACES, "+"),))
_WIDE_CHARS = re.compile("[\u2e80-\U0010ffff]")


def weighted_length(text: str) -> int:
    """Length of ``text`` in Latin-letter equivalents."""
    return len(text) + (WIDE_CHAR_WEIGHT - 1) * len(_WIDE_CHARS.findall(text))


def _index_at_weight(text: str, start: int, weight: float) -> int:
    """How many characters from ``start`` on make a prefix weighing at least ``weight``."""
    total = 0
    for count, char in enumerate(text[start:start + int(weight) + 1]):
        if total >= weight:
            return count
        total += WIDE_CHAR_WEIGHT if char >= "\u2e80" else 1
    return min(len(text) - start, int(weight) + 1)


class TextBuffer:
    """Collects a context's text and says which pieces are ready for synthesis.

    Boundaries are found as text arrives: each appended character is scanned once, and
    the scans keep their place while pieces are released (every cut falls where each scan
    is between matches, or at the end of the text, where they restart). Positions below
    count from the last flush; ``_text`` holds the unreleased text, from ``_start`` on.
    """

    def __init__(
        self,
        schedule: Sequence[int] = DEFAULT_CHUNK_LENGTH_SCHEDULE,
        *,
        auto_mode: bool = False,
        guard: MatchGuard | None = None,
    ) -> None:
        self._auto_mode = auto_mode
        self._guard = guard
        self.schedule = schedule
        self._sentence = BoundaryScan(SENTENCE_END)
        self._sentence_at_end = BoundaryScan(SENTENCE_END_AT_TEXT_END)
        self._clause = BoundaryScan(CLAUSE_END)
        self._word = BoundaryScan(WORD_END)
        self._scans = (self._sentence, self._sentence_at_end, self._clause, self._word)
        self._text = ""
        self._origin = self._start = self._end = 0
        self._weight = 0  # of the unreleased text
        self._last_solid = -1  # where the last character that is not a space is
        self._releases = 0

    @property
    def schedule(self) -> tuple[int, ...]:
        return self._schedule

    @schedule.setter
    def schedule(self, schedule: Sequence[int]) -> None:
        if not schedule or min(schedule) < 1:
            raise ValueError("a chunk length schedule needs positive lengths")
        self._schedule = tuple(schedule)
        self._longest = max(self._schedule)

    @property
    def text(self) -> str:
        """What is buffered and not yet released."""
        return self._text

    def append(self, text: str) -> list[str]:
        """Add text; return the pieces now ready to be spoken, in order (often none)."""
        for scan in self._scans:
            scan.feed(text, self._end)
        if self._guard is not None:
            self._guard.feed(text, self._end)
        self._weight += weighted_length(text)
        solid = len(text.rstrip())
        if solid:
            self._last_solid = self._end + solid - 1
        self._text += text
        self._end += len(text)
        pieces = []
        while (cut := self._auto_cut() if self._auto_mode else self._scheduled_cut()) is not None:
            if self._guard is not None:
                cut = self._guard.safe_cut(cut)
                if cut <= self._start:
                    break
                self._guard.release(cut)
            piece = self._text[self._start - self._origin:cut - self._origin]
            pieces.append(piece)
            self._weight -= weighted_length(piece)
            self._start = cut
            self._releases += 1
            if cut == self._end:
                for scan in self._scans:
                    scan.reset()
        self._text = self._text[self._start - self._origin:]
        self._origin = self._start
        return pieces

    def flush(self, complete: bool = True) -> str:
        """Release what is buffered (possibly ""), and restart the schedule.

        Unless ``complete``, a tail that may still grow into a rule's string stays.
        """
        text = self._text
        held = 0 if complete or self._guard is None else self._guard.hold()
        released, kept = text[:len(text) - held], text[len(text) - held:]
        self._restart()
        if self._guard is not None:
            self._guard.reset(released)
        if kept:
            self.append(kept)
        return released

    def _restart(self) -> None:
        self._text = ""
        self._origin = self._start = self._end = 0
        self._weight = 0  # of the unreleased text
        self._last_solid = -1  # where the last character that is not a space is
        self._releases = 0
        for scan in self._scans:
            scan.reset()

    def _scheduled_cut(self) -> int | None:
        threshold = self._schedule[min(self._releases, len(self._schedule) - 1)]
        if self._weight < threshold:
            return None
        start = self._start + self._index_at_weight(threshold / 2) - 1
        for scan in (self._sentence, self._clause, self._word):
            if (cut := scan.last_end(self._end)) > start:
                return cut
        return self._end

    def _auto_cut(self) -> int | None:
        if self._last_solid < self._start:
            return None  # nothing but spaces
        cut = self._sentence.last_end(self._end)
        if self._sentence_at_end.open:
            cut = self._end  # auto mode clients send whole sentences, often without a space
        if cut > self._start:
            return cut
        start = self._start + self._index_at_weight(AUTO_MODE_MIN_CLAUSE) - 1
        if (cut := self._clause.last_end(self._end)) > start:
            return cut
        if self._weight >= self._longest:
            cut = self._word.last_end(self._end)
            return cut if cut > self._start else self._end
        return None

    def _index_at_weight(self, weight: float) -> int:
        return _index_at_weight(self._text, self._start - self._origin, weight)

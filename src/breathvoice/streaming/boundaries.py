r"""Where boundaries fall in text that arrives piece by piece, found in one pass.

A :class:`Boundary` is a leftmost-first pattern such as ``[.!?]+["')]*\s+|\n\s*``, written
as alternatives of segments (a character class, once or repeated). A :class:`BoundaryScan`
reads a text as it grows and says where the last match of ``re.finditer`` over everything
read so far ends, and whether a match is still open at the end of the text.

The patterns are shaped so that matching never backtracks: the alternatives start with
different characters, and a repeated segment shares no character with the segments that
may follow it. A match is then the longest run of each segment in turn, and when a start
fails, every start up to the failing character fails the same way. So the scan reads each
character once, one attempt at a time (an attempt is one regular-expression call that only
takes longest runs and never gives back), and keeps its place between appends: its work is
linear in the text read, whatever the text (long runs of punctuation included).
"""

from __future__ import annotations

import re

NO_END = -1
"""What :meth:`BoundaryScan.last_end` says when nothing has matched yet."""


class Segment:
    """A character class (a regular-expression class body) taken once, ``+`` or ``*``."""

    def __init__(self, chars: str, repeat: str = "") -> None:
        if repeat not in ("", "+", "*"):
            raise ValueError(f"unknown repeat {repeat!r}")
        self.chars = chars
        self.repeat = repeat
        self.optional = repeat == "*"

    def source(self, *, continued: bool = False) -> str:
        """A group taking the longest run; it takes part in a match only if it is not empty.

        ``continued``: what is left of the segment once one character of it has matched.
        """
        if continued:
            return f"(?:([{self.chars}]+))?" if self.repeat else ""
        if self.optional:
            return f"(?:([{self.chars}]+))?"
        return f"([{self.chars}]{self.repeat})"


def _rest(segments: tuple[Segment, ...]) -> str:
    """The segments that may follow, each required one only if all before it matched."""
    if not segments:
        return ""
    head, tail = segments[0], _rest(segments[1:])
    if head.optional:
        return head.source() + tail
    return f"(?:{head.source()}{tail})?"


class Boundary:
    """A pattern as alternatives of segments; each alternative's first segment is required."""

    def __init__(self, *alternatives: tuple[Segment, ...]) -> None:
        if any(not alternative or alternative[0].optional for alternative in alternatives):
            raise ValueError("every alternative starts with a required segment")
        self.alternatives = alternatives
        # complete[a][k]: a match of alternative a is whole once it has reached segment k
        self.complete = tuple(
            tuple(all(s.optional for s in alternative[k + 1:]) for k in range(len(alternative)))
            for alternative in alternatives
        )
        # An attempt from a start character: the last group that takes part in it names
        # (alternative, segment) where it stopped.
        self.attempt = re.compile("|".join(
            alternative[0].source() + _rest(alternative[1:]) for alternative in alternatives
        ))
        self.stops = [(-1, -1)] + [(a, k) for a, alternative in enumerate(alternatives)
                                   for k in range(len(alternative))]
        # How an attempt that stopped at the end of a text inside segment k goes on; the
        # last group taking part says by how many segments it went further.
        self.resume = tuple(
            tuple(re.compile(alternative[k].source(continued=True) + _rest(alternative[k + 1:]))
                  for k in range(len(alternative)))
            for alternative in alternatives
        )
        self.further = tuple(
            tuple((0, *range(0 if segment.repeat else 1, len(alternative) - k))
                  for k, segment in enumerate(alternative))
            for alternative in alternatives
        )

    @property
    def pattern(self) -> str:
        """The same pattern as a regular expression."""
        return "|".join("".join(f"[{s.chars}]{s.repeat}" for s in alternative)
                        for alternative in self.alternatives)


class BoundaryScan:
    """One text's matches of a :class:`Boundary`, kept up to date as the text grows."""

    def __init__(self, boundary: Boundary) -> None:
        self._boundary = boundary
        self.reset()

    def reset(self) -> None:
        """Forget what was read: the next text is scanned from its start."""
        self._alternative = -1  # the alternative of an attempt still open, -1 if none
        self._segment = 0
        self._last_end = NO_END

    @property
    def open(self) -> bool:
        """A match (already whole) runs to the end of what was read and may grow."""
        return self._alternative >= 0 and self._boundary.complete[self._alternative][
            self._segment]

    def last_end(self, end: int) -> int:
        """Where the last match ends (``end``, the text's end, if one is open), or NO_END."""
        return end if self.open else self._last_end

    def feed(self, text: str, offset: int) -> None:
        """Read ``text``, which continues what was read; ``offset`` is where it starts."""
        boundary = self._boundary
        index, length = 0, len(text)
        while index < length:
            if self._alternative < 0:
                found = boundary.attempt.search(text, index)
                if found is None:
                    return
                self._alternative, self._segment = boundary.stops[found.lastindex or 0]
            else:
                resume = boundary.resume[self._alternative][self._segment]
                found = resume.match(text, index)
                if found is None:
                    raise AssertionError(f"{resume.pattern} cannot fail")
                if found.lastindex:
                    self._segment += boundary.further[self._alternative][self._segment][
                        found.lastindex]
            index = found.end()
            if index == length:
                return  # the attempt may go on in the next text
            if boundary.complete[self._alternative][self._segment]:
                self._last_end = offset + index
            self._alternative = -1  # the character at index may start the next attempt

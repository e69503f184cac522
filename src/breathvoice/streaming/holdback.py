"""Where streamed text may be cut so no pronunciation rule loses its match.

On a socket a rule's string may arrive in pieces (``"Breath"`` then ``"VOICE is here"``).
A :class:`MatchGuard` reads a context's text as it arrives, with the rules' automaton
(:mod:`breathvoice.pronunciation.automaton`), and answers two questions for the buffer:

- :meth:`MatchGuard.hold`: how much of the end of the text must wait for the next
  message. That is the longest tail that is the start of a longer rule string, and that
  may start a match there (a rule that wants word boundaries cannot start inside a word).
  A flush releases everything but this tail; the session releases the tail too once
  ``pronunciation_hold_seconds`` pass without more text, or when the context closes.
- :meth:`MatchGuard.safe_cut`: the last cut at or before a proposed one that neither falls
  inside a rule string already read nor inside the held tail.

Work is linear in the text: each character moves the automaton once (amortised) and adds
at most one span; a hold walks at most ``longest`` states; a cut is a binary search over
the spans not yet released. The tail held is never longer than the longest rule string.
"""

from __future__ import annotations

from bisect import bisect_right

from breathvoice.pronunciation.automaton import fold
from breathvoice.pronunciation.lexicon import Lexicon, is_boundary


class MatchGuard:
    def __init__(self, lexicon: Lexicon) -> None:
        self._automaton = lexicon.automaton
        self._free = lexicon.free_starts
        self._keep = self._automaton.longest + 1
        self.reset()

    def reset(self, before: str = "") -> None:
        """Start again at position 0; ``before`` is the text released just before it."""
        self._state = 0
        self._end = 0
        self._recent = before[-1:]
        """The last characters read (at most the longest string and one), ``before`` first."""
        self._starts: list[int] = []
        self._ends: list[int] = []
        """Rule strings read, as disjoint spans (overlapping ones merged), in order."""

    def feed(self, text: str, offset: int) -> None:
        """Read ``text``, which starts at ``offset`` and continues what was read."""
        automaton = self._automaton
        for index, char in enumerate(fold(text)):
            self._state = automaton.step(self._state, char)
            found = next(automaton.ends(self._state), None)
            if found is None:
                continue
            end = offset + index + 1
            start = end - len(automaton.keys[found])
            if self._ends and start < self._ends[-1]:
                self._starts[-1] = min(self._starts[-1], start)
                self._ends[-1] = end
            else:
                self._starts.append(start)
                self._ends.append(end)
        self._end = offset + len(text)
        self._recent = (self._recent + text)[-self._keep:]

    def hold(self) -> int:
        """How many characters at the end may still grow into a rule's string."""
        automaton = self._automaton
        node = self._state
        while node:
            depth = automaton.depth[node]
            if automaton.has_children(node) and (self._free[node] or self._starts_word(depth)):
                return depth
            node = automaton.fail[node]
        return 0

    def safe_cut(self, cut: int) -> int:
        """The last position at or before ``cut`` that splits no rule string."""
        cut = min(cut, self._end - self.hold())
        index = bisect_right(self._starts, cut) - 1
        if index >= 0 and self._starts[index] < cut < self._ends[index]:
            cut = self._starts[index]
        return cut

    def release(self, until: int) -> None:
        """Forget the spans that end at or before ``until`` (that text has gone out)."""
        gone = bisect_right(self._ends, until)
        if gone:
            del self._starts[:gone], self._ends[:gone]

    def _starts_word(self, depth: int) -> bool:
        """A word may start ``depth`` characters before the end of what was read."""
        if depth >= len(self._recent):
            return True  # at the very start: nothing before it
        at = len(self._recent) - depth
        return is_boundary(self._recent[at - 1 : at + 1], 1)

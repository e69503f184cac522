"""Finding every rule's string in a text at once: an Aho-Corasick automaton.

Written here rather than taken from a library because streaming needs what libraries keep
inside: the automaton's state after the text read so far. Its depth is the longest tail of
the text that is the start of some rule's string, which is exactly what a streaming
buffer must hold back so a word split across two messages still matches
(:mod:`breathvoice.streaming.holdback`). Reading a character costs amortised O(1) and
never looks back at the text.

Strings are matched on a per-character lower-case fold (a character whose lower case is
several characters stays as it is), so indexes in the folded text are indexes in the text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence


def fold(text: str) -> str:
    """Lower case, character by character, keeping the length."""
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


class Automaton:
    """The strings ``keys`` (folded) as a trie with failure links. Immutable once built."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = [fold(key) for key in keys]
        self._goto: list[dict[str, int]] = [{}]
        self.depth = [0]
        self._terminal: list[int] = [-1]  # key index ending at a node, -1 if none
        for index, key in enumerate(self.keys):
            node = 0
            for char in key:
                nxt = self._goto[node].get(char)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[node][char] = nxt
                    self._goto.append({})
                    self.depth.append(self.depth[node] + 1)
                    self._terminal.append(-1)
                node = nxt
            if self._terminal[node] < 0:
                self._terminal[node] = index
        count = len(self._goto)
        self.fail = [0] * count
        self._output = [-1] * count  # nearest node on the failure chain that ends a key
        self.order: list[int] = []  # breadth-first: parents before children
        queue = deque(self._goto[0].values())
        while queue:
            node = queue.popleft()
            self.order.append(node)
            for char, child in self._goto[node].items():
                state = self.fail[node]
                while state and char not in self._goto[state]:
                    state = self.fail[state]
                target = self._goto[state].get(char, 0)
                self.fail[child] = target if target != child else 0
                queue.append(child)
        for node in self.order:
            link = self.fail[node]
            self._output[node] = link if self._terminal[link] >= 0 else self._output[link]

    @property
    def longest(self) -> int:
        return max(self.depth)

    def has_children(self, node: int) -> bool:
        return bool(self._goto[node])

    def step(self, node: int, char: str) -> int:
        """The state after reading one (folded) character."""
        while True:
            nxt = self._goto[node].get(char)
            if nxt is not None:
                return nxt
            if node == 0:
                return 0
            node = self.fail[node]

    def ends(self, node: int) -> Iterator[int]:
        """Indexes of the keys that end at this state, longest first."""
        if self._terminal[node] < 0:
            node = self._output[node]
        while node > 0:
            yield self._terminal[node]
            node = self._output[node]

    def occurrences(self, folded: str, start: int = 0,
                    end: int | None = None) -> Iterator[tuple[int, int, int]]:
        """``(start, end, key)`` of every key in ``folded[start:end]``, by end then length."""
        node = 0
        for position in range(start, len(folded) if end is None else end):
            node = self.step(node, folded[position])
            for key in self.ends(node):
                yield position + 1 - len(self.keys[key]), position + 1, key

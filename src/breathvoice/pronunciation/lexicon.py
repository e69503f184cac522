"""The rules one synthesis applies, compiled: where they match in a text.

A :class:`Lexicon` holds rules in priority order (the request's dictionaries in the order
named, then the voice group's). In a text it finds matches leftmost first, the longest
string at each place, and among rules for the same string the first in priority; matches
never overlap. ``case_sensitive`` compares the characters as written; ``word_boundaries``
wants no letter or digit of a spaced script (Latin, Cyrillic, ...) right before or after
the match. Han and kana characters are words by themselves, so a Chinese rule matches
inside a sentence with or without ``word_boundaries``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from breathvoice.pronunciation.automaton import Automaton, fold
from breathvoice.pronunciation.rules import Rule

_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _wordish(char: str) -> bool:
    return (char.isalnum() or char == "_") and _UNSPACED.match(char) is None


def is_boundary(text: str, position: int) -> bool:
    """No word runs across ``position`` (between ``text[position - 1]`` and ``text[position]``)."""
    if position <= 0 or position >= len(text):
        return True
    return not (_wordish(text[position - 1]) and _wordish(text[position]))


@dataclass(frozen=True)
class Match:
    """``rule`` applies to ``text[start:end]``."""

    start: int
    end: int
    rule: Rule


class Lexicon:
    """Rules in priority order (first wins), compiled once; safe to share between threads."""

    def __init__(self, rules: list[Rule], name: str = "") -> None:
        self.rules = tuple(rules)
        self.name = name
        """What it is made of (dictionary ids and versions), for logs and caches."""
        keys: dict[str, int] = {}
        self._by_key: list[list[Rule]] = []
        for rule in self.rules:
            folded = fold(rule.string_to_replace)
            if folded not in keys:
                keys[folded] = len(keys)
                self._by_key.append([])
            self._by_key[keys[folded]].append(rule)
        self.automaton = Automaton(list(keys))

    def __len__(self) -> int:
        return len(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    @cached_property
    def free_starts(self) -> list[bool]:
        """Per automaton state: some string through it may match without a word boundary."""
        automaton = self.automaton
        free = [False] * len(automaton.depth)
        for key, rules in enumerate(self._by_key):
            if any(not rule.word_boundaries for rule in rules):
                node = 0
                for char in automaton.keys[key]:
                    node = automaton.step(node, char)
                    free[node] = True
        return free

    def matches(self, text: str, start: int = 0, end: int | None = None) -> list[Match]:
        """Where the rules apply in ``text[start:end]`` (the text around it is context)."""
        stop = len(text) if end is None else end
        if not self.rules or stop <= start:
            return []
        best: dict[int, tuple[int, Rule]] = {}
        for begin, finish, key in self.automaton.occurrences(fold(text), start, stop):
            if begin < start or (begin in best and best[begin][0] >= finish - begin):
                continue
            rule = self._applicable(text, begin, finish, key)
            if rule is not None:
                best[begin] = (finish - begin, rule)
        found = []
        position = start
        for begin in sorted(best):
            if begin >= position:
                length, rule = best[begin]
                found.append(Match(begin, begin + length, rule))
                position = begin + length
        return found

    def _applicable(self, text: str, begin: int, finish: int, key: int) -> Rule | None:
        written = text[begin:finish]
        for rule in self._by_key[key]:
            if rule.case_sensitive and written != rule.string_to_replace:
                continue
            if rule.word_boundaries and not (is_boundary(text, begin)
                                             and is_boundary(text, finish)):
                continue
            return rule
        return None


def combine(parts: list[Lexicon | None]) -> Lexicon | None:
    """One lexicon applying ``parts`` in order (the first wins); None if all are empty."""
    present = [part for part in parts if part]
    if len(present) <= 1:
        return present[0] if present else None
    return Lexicon([rule for part in present for rule in part.rules],
                   "+".join(part.name for part in present))

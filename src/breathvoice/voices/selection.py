"""Which reference clip of a voice group speaks a given output file.

The rules are data: an ordered list of :class:`KeywordRule`; the first rule with a keyword
found in the file name wins. A keyword only matches a whole token: ``B1`` matches
``B1_test.wav`` and ``emotion-b1.wav`` but not ``B10.wav`` or ``xB1.wav``.

A list of rules is compiled once into a :class:`RuleMatcher` (one pattern for all its
keywords, kept for later calls), so choosing costs one scan of the file name however many
keywords a group declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from breathvoice.errors import InvalidRequest

DEFAULT_EMOTIONS: tuple[str, ...] = ("greeting", "B1_B2", "B3_B4", "B5_orgasm")
DEFAULT_EMOTION = "greeting"


@dataclass(frozen=True)
class KeywordRule:
    """Use ``emotion`` when the file name contains any of ``keywords`` as a token."""

    keywords: tuple[str, ...]
    emotion: str


DEFAULT_RULES: tuple[KeywordRule, ...] = (
    KeywordRule(("greeting",), "greeting"),
    KeywordRule(("B1", "B2"), "B1_B2"),
    KeywordRule(("B0", "B3", "B4", "impact"), "B3_B4"),
    KeywordRule(("B5", "orgasm"), "B5_orgasm"),
)

# Extensions stripped before matching, so a keyword never matches the file type.
_KNOWN_EXTENSIONS = frozenset(
    {"wav", "wave", "mp3", "flac", "ogg", "oga", "opus", "pcm", "raw", "ulaw", "alaw",
     "m4a", "aac", "webm", "au", "aiff", "aif"}
)


def strip_extension(filename: str) -> str:
    """``'B1_test.wav'`` -> ``'B1_test'``; unknown suffixes are kept (``'B4.B5'`` stays)."""
    stem, dot, suffix = filename.rpartition(".")
    if dot and stem and suffix.lower() in _KNOWN_EXTENSIONS:
        return stem
    return filename


# ASCII letters and digits glue tokens together; anything else (_ - . space, CJK) separates.
_TOKEN_START = r"(?<![A-Za-z0-9])"
_TOKEN_END = r"(?![A-Za-z0-9])"
_NEVER = r"(?!)"


def _any_of(keywords: Iterable[str]) -> str:
    escaped = [re.escape(k) for k in dict.fromkeys(keywords) if k]
    return "|".join(escaped) if escaped else _NEVER


class RuleMatcher:
    """Ordered rules compiled into one pattern: which rule a file name picks, in one scan.

    The pattern looks ahead at every token start for a keyword of rule 0, else of rule 1,
    and so on; the lowest rule seen anywhere in the name is the first rule that matches.
    """

    def __init__(self, rules: Sequence[KeywordRule]) -> None:
        self.emotions = tuple(rule.emotion for rule in rules)
        groups = "|".join(f"({_any_of(rule.keywords)})" for rule in rules) or _NEVER
        self._pattern = re.compile(rf"{_TOKEN_START}(?=(?:{groups}){_TOKEN_END})",
                                   re.IGNORECASE)

    def first_rule(self, text: str) -> int | None:
        """The index of the first rule with a keyword in ``text`` as a token, if any."""
        best: int | None = None
        for found in self._pattern.finditer(text):
            rule = (found.lastindex or 1) - 1
            if best is None or rule < best:
                best = rule
                if rule == 0:
                    break
        return best

    def select(self, filename: str, default: str = DEFAULT_EMOTION) -> str:
        """The emotion the first matching rule names, or ``default`` when none matches."""
        rule = self.first_rule(strip_extension(filename))
        return default if rule is None else self.emotions[rule]


@lru_cache(maxsize=256)
def rule_matcher(rules: tuple[KeywordRule, ...]) -> RuleMatcher:
    """The compiled matcher of ``rules``, kept for the next call with the same rules."""
    return RuleMatcher(rules)


def contains_keyword(text: str, keyword: str) -> bool:
    """True when ``keyword`` occurs in ``text`` as a whole token, ignoring case."""
    return bool(keyword) and rule_matcher((KeywordRule((keyword,), ""),)).first_rule(text) == 0


def select_emotion(
    filename: str,
    rules: Sequence[KeywordRule] = DEFAULT_RULES,
    default: str = DEFAULT_EMOTION,
) -> str:
    """The emotion the first matching rule names, or ``default`` when none matches."""
    return rule_matcher(tuple(rules)).select(filename, default)


def resolve_reference(
    wanted: str, available_emotions: Sequence[str], default: str = DEFAULT_EMOTION
) -> str:
    """The emotion actually used: ``wanted``, else ``default``, else the first available.

    ``available_emotions`` is in the group's declared order, so the last fallback is
    deterministic.
    """
    if wanted in available_emotions:
        return wanted
    if default in available_emotions:
        return default
    if available_emotions:
        return available_emotions[0]
    raise InvalidRequest("the voice group has no usable reference audio")


def find_emotion(name: str, emotions: Iterable[str]) -> str | None:
    """The declared emotion that ``name`` (case-insensitive) spells, if any."""
    folded = name.casefold()
    return next((emotion for emotion in emotions if emotion.casefold() == folded), None)


def emotion_of_reference_file(filename: str, emotions: Iterable[str]) -> str | None:
    """Which emotion an uploaded reference clip is for, from its name.

    The stem must end with ``_<emotion>`` (``NewCharacter_B1_B2.wav`` -> ``B1_B2``) or be
    the emotion itself (``greeting.wav``). The longest matching emotion wins, so a group
    declaring both ``B2`` and ``B1_B2`` maps ``X_B1_B2.wav`` to ``B1_B2``.
    """
    stem = filename.rpartition(".")[0] or filename
    folded = stem.casefold()
    matches = [
        emotion
        for emotion in emotions
        if folded == emotion.casefold() or folded.endswith("_" + emotion.casefold())
    ]
    return max(matches, key=len) if matches else None


def assign_reference_files(
    filenames: Sequence[str], emotions: Sequence[str], voice_group_id: str
) -> dict[str, str]:
    """emotion -> uploaded clip, in declared order; every clip must name one emotion."""
    expected = ", ".join(f"{voice_group_id}_{e}.wav" for e in emotions)
    by_emotion: dict[str, str] = {}
    unmatched = []
    for name in filenames:
        emotion = emotion_of_reference_file(name, emotions)
        if emotion is None:
            unmatched.append(name)
        elif emotion in by_emotion:
            raise InvalidRequest(f"'{by_emotion[emotion]}' and '{name}' are both references "
                                 f"for '{emotion}'; keep one")
        else:
            by_emotion[emotion] = name
    if unmatched:
        raise InvalidRequest(f"cannot tell which emotion {', '.join(unmatched)} is for; "
                             f"name the clips like: {expected}")
    if not by_emotion:
        raise InvalidRequest(f"the zip holds no reference clips; expected: {expected}")
    return {e: by_emotion[e] for e in emotions if e in by_emotion}

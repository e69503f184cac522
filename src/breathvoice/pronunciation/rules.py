"""Pronunciation rules and dictionaries: what users write, checked once on the way in.

A rule says how a string of the text is read:

- ``alias``: read ``alias`` instead (any language the engine speaks);
- ``phoneme``: read these phonemes, in ``alphabet``:

  - ``ipa`` (English), ``cmu-arpabet`` (English, ``T AH0 M EY1 T OW2``);
  - ``pinyin`` (Chinese): syllables with tone numbers (``yin2 hang2``) or tone marks
    (``yín háng``), ``v`` or ``ü`` for ü, a missing tone or ``5`` for the neutral tone;
  - ``kokoro``: the embedded engine's own phonemes, passed through as they are.

``case_sensitive`` (default true) and ``word_boundaries`` (default true) are ElevenLabs'
options. A dictionary is a named list of rules; every change makes a new version.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from breathvoice.errors import InvalidRequest

RuleKind = Literal["alias", "phoneme"]
ALPHABETS = ("ipa", "cmu-arpabet", "pinyin", "kokoro")
MAX_STRING_CHARS = 100
"""Longest ``string_to_replace`` (a streaming buffer holds back at most this much)."""
MAX_READING_CHARS = 400
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000

_TONE_MARKS = {"\u0304": "1", "\u0301": "2", "\u030c": "3", "\u0300": "4"}
_PINYIN_SYLLABLE = re.compile(r"[a-zü]{1,6}[1-5]?")
_PINYIN_SEPARATORS = re.compile(r"[\s'’\-]+")


@dataclass(frozen=True)
class Rule:
    """One rule of a dictionary (ElevenLabs' rule object, less its ``type`` spelling)."""

    string_to_replace: str
    type: RuleKind
    alias: str | None = None
    phoneme: str | None = None
    alphabet: str | None = None
    case_sensitive: bool = True
    word_boundaries: bool = True

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "string_to_replace": self.string_to_replace}
        if self.type == "alias":
            body["alias"] = self.alias
        else:
            body["phoneme"] = self.phoneme
            body["alphabet"] = self.alphabet
        body["case_sensitive"] = self.case_sensitive
        body["word_boundaries"] = self.word_boundaries
        return body

    @classmethod
    def from_json(cls, data: Any) -> Rule:
        """A checked rule from a request body item (raises InvalidRequest)."""
        if not isinstance(data, dict):
            raise InvalidRequest("each rule must be an object")
        kind = data.get("type")
        if kind not in ("alias", "phoneme"):
            raise InvalidRequest("a rule's type must be 'alias' or 'phoneme'")
        if kind == "alias":
            return alias_rule(data.get("string_to_replace"), data.get("alias"),
                              _flag(data, "case_sensitive"), _flag(data, "word_boundaries"))
        return phoneme_rule(data.get("string_to_replace"), data.get("phoneme"),
                            data.get("alphabet"), _flag(data, "case_sensitive"),
                            _flag(data, "word_boundaries"))


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return True
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false")
    return value


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string")
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidRequest(f"{what} is longer than {limit} characters")
    if any(unicodedata.category(char).startswith("C") for char in text):
        raise InvalidRequest(f"{what} must not hold control characters")
    return text


def alias_rule(string: Any, alias: Any, case_sensitive: bool = True,
               word_boundaries: bool = True) -> Rule:
    return Rule(_text(string, "string_to_replace", MAX_STRING_CHARS), "alias",
                alias=_text(alias, "alias", MAX_READING_CHARS),
                case_sensitive=case_sensitive, word_boundaries=word_boundaries)


def phoneme_rule(string: Any, phoneme: Any, alphabet: Any, case_sensitive: bool = True,
                 word_boundaries: bool = True) -> Rule:
    if not isinstance(alphabet, str) or alphabet.strip().lower() not in ALPHABETS:
        raise InvalidRequest(f"alphabet must be one of {', '.join(ALPHABETS)}")
    alphabet = alphabet.strip().lower()
    reading = _text(phoneme, "phoneme", MAX_READING_CHARS)
    if alphabet == "pinyin":
        reading = " ".join(pinyin_syllables(reading))
    return Rule(_text(string, "string_to_replace", MAX_STRING_CHARS), "phoneme",
                phoneme=reading, alphabet=alphabet, case_sensitive=case_sensitive,
                word_boundaries=word_boundaries)


def pinyin_syllables(reading: str) -> list[str]:
    """``"yín háng"`` or ``"yin2hang2"``-style input as numbered syllables (``yin2``).

    Tone marks become numbers; ``v`` becomes ``ü``; a syllable without a tone is
    neutral (``5``). Raises InvalidRequest for anything that is not pinyin.
    """
    out = []
    for word in _PINYIN_SEPARATORS.split(reading.strip().lower()):
        # split "yin2hang2" after each tone number
        for part in filter(None, re.split(r"(?<=[1-5])", word)):
            syllable, tone = "", ""
            for char in unicodedata.normalize("NFD", part):
                if char in _TONE_MARKS:
                    tone = _TONE_MARKS[char]
                elif char == "\u0308":  # the diaeresis of ü
                    syllable = syllable[:-1] + "ü" if syllable.endswith("u") else syllable
                else:
                    syllable += char
            syllable = syllable.replace("v", "ü")
            if syllable and syllable[-1].isdigit():
                tone, syllable = syllable[-1], syllable[:-1]
            syllable += tone or "5"
            if not _PINYIN_SYLLABLE.fullmatch(syllable):
                raise InvalidRequest(f"'{part[:20]}' is not a pinyin syllable")
            out.append(syllable)
    if not out:
        raise InvalidRequest("phoneme must hold at least one pinyin syllable")
    return out


def dictionary_name(value: Any) -> str:
    return _text(value, "name", MAX_NAME_CHARS)


def dictionary_description(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _text(value, "description", MAX_DESCRIPTION_CHARS)


def with_rules(current: list[Rule], added: list[Rule]) -> list[Rule]:
    """``current`` with ``added``: a rule replaces the one with the same string."""
    replaced = {rule.string_to_replace: rule for rule in added}
    kept = [rule for rule in current if rule.string_to_replace not in replaced]
    return kept + list(replaced.values())


def without_rules(current: list[Rule], strings: list[str]) -> list[Rule]:
    gone = set(strings)
    return [rule for rule in current if rule.string_to_replace not in gone]

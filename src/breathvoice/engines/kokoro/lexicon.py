"""Pronunciation rules as Kokoro phonemes.

Kokoro reads the phonemes our G2P makes (see :mod:`.g2p`): espeak-ng's American IPA for
English (``tʃ``, ``dʒ``, ``eɪ``, ``oʊ`` as written, stress marks before the vowel) and
misaki's pinyin-to-IPA with tone arrows for Chinese (``hang2`` → ``xa↗ŋ``). A rule's
reading is brought to that set:

- ``ipa``: slashes, brackets, tie bars and syllable dots dropped; ligatures and common
  variants written as espeak writes them (``ʧ`` → ``tʃ``, ``g`` → ``ɡ``, ``r`` → ``ɹ``,
  ``ɝ`` → ``ɜː``, ``:`` → ``ː``, ``'`` → ``ˈ``);
- ``cmu-arpabet``: each symbol to its IPA (stress digits 1/2 to ``ˈ``/``ˌ``), then as IPA;
- ``pinyin``: each syllable through misaki's ``py2ipa``, as the Chinese G2P does;
- ``kokoro``: taken as it is.

Symbols outside the model's vocabulary are dropped. A reading that leaves nothing is
ignored, and the text is read as if the rule were not there.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

log = logging.getLogger(__name__)

_IPA_DROP = re.compile(r"[/\[\]\u0361\u035c.‿|ˑ]")
_IPA_FIXES = (("ʧ", "tʃ"), ("ʤ", "dʒ"), ("ɝ", "ɜː"), ("g", "ɡ"), ("r", "ɹ"), (":", "ː"),
              ("'", "ˈ"), ("ɫ", "l"), ("ʍ", "w"), ("ɚː", "ɚ"), ("ɹ\u0329", "ɚ"))
_ARPABET = {
    "AA": "ɑː", "AE": "æ", "AH": "ʌ", "AO": "ɔː", "AW": "aʊ", "AY": "aɪ", "B": "b",
    "CH": "tʃ", "D": "d", "DH": "ð", "EH": "ɛ", "ER": "ɜː", "EY": "eɪ", "F": "f", "G": "ɡ",
    "HH": "h", "IH": "ɪ", "IY": "iː", "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n",
    "NG": "ŋ", "OW": "oʊ", "OY": "ɔɪ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "UH": "ʊ", "UW": "uː", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip
_UNSTRESSED = {"AH": "ə", "ER": "ɚ"}


def ipa_phonemes(reading: str) -> str:
    """IPA as written by people, in the spelling espeak-ng gives our English G2P."""
    text = _IPA_DROP.sub("", reading)
    for old, new in _IPA_FIXES:
        text = text.replace(old, new)
    return " ".join(text.split())


def arpabet_phonemes(reading: str) -> str:
    """CMU ARPAbet (``T AH0 M EY1 T OW2``) as IPA; words split on ``/`` or ``|``."""
    words = []
    for word in re.split(r"\s*[/|]\s*", reading.strip()):
        out = ""
        for symbol in word.upper().split():
            base, stress = symbol.rstrip("012"), symbol[len(symbol.rstrip("012")):]
            sound = _UNSTRESSED.get(base, "") if stress == "0" else ""
            sound = sound or _ARPABET.get(base, "")
            out += {"1": "ˈ", "2": "ˌ"}.get(stress, "") + sound
        if out:
            words.append(out)
    return " ".join(words)


@lru_cache(maxsize=4096)
def pinyin_phonemes(reading: str) -> str:
    """Numbered pinyin syllables (``yin2 hang2``) as the Chinese G2P speaks them."""
    from misaki.zh import ZHG2P

    out = ""
    for syllable in reading.split():
        try:
            out += ZHG2P.py2ipa(syllable.replace("ü", "v")).replace(chr(815), "")
        except Exception:  # noqa: BLE001 - not a syllable misaki knows: left out
            log.debug("no reading for pinyin %r", syllable)
    return out


def rule_phonemes(alphabet: str, reading: str) -> str:
    """A phoneme rule's reading in Kokoro's phonemes (not yet filtered to the vocabulary)."""
    if alphabet == "pinyin":
        return pinyin_phonemes(reading)
    if alphabet == "cmu-arpabet":
        return ipa_phonemes(arpabet_phonemes(reading))
    if alphabet == "ipa":
        return ipa_phonemes(reading)
    return reading

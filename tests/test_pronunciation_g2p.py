"""Rules applied inside the real Kokoro G2P: Chinese polyphones by pinyin, English names by
IPA, ARPAbet and alias, the engine's own phonemes; the official ``elevenlabs`` SDK creating a
dictionary and passing its locator; and alignment that still names the characters sent."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from elevenlabs import ElevenLabs, PronunciationDictionaryVersionLocator
from elevenlabs.pronunciation_dictionaries import (
    BodyAddAPronunciationDictionaryV1PronunciationDictionariesAddFromRulesPostRulesItem_Alias as Alias,  # noqa: E501
)

from breathvoice.engines.kokoro.g2p import Phonemizer
from breathvoice.engines.kokoro.text import normalize
from breathvoice.pronunciation.lexicon import Lexicon
from breathvoice.pronunciation.rules import Rule, alias_rule, phoneme_rule
from engine_fixture import kokoro_engine, shared_kokoro_engine

__all__ = ["kokoro_engine"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    return Phonemizer(shared_kokoro_engine().model.vocab)


def reading(phonemizer: Phonemizer, text: str, *rules: Rule) -> dict[str, str]:
    """What each span of ``text`` is read as (spaces between words dropped)."""
    lexicon = Lexicon(list(rules))
    clean = normalize(text)
    spans = phonemizer.phonemize(clean, 0, len(clean), None, lexicon.matches(text))
    return {text[s.start:s.end]: s.phonemes.strip() for s in spans if s.phonemes.strip()}


@pytest.mark.parametrize(("text", "char", "default", "pinyin", "flipped"), [
    ("我们去银行。", "行", "xa↗ŋ", "xing2", "ɕi↗ŋ"),
    ("他在路上行走。", "行", "ɕi↗ŋ", "háng", "xa↗ŋ"),
    ("这很重要。", "重", "ꭧʊ↘ŋ", "chong2", "ꭧʰʊ↗ŋ"),
    ("孩子长大了。", "长", "ꭧa↓ŋ", "cháng", "ꭧʰa↗ŋ"),
])
def test_a_pinyin_rule_flips_a_chinese_polyphone(phonemizer: Phonemizer, text: str, char: str,
                                                 default: str, pinyin: str,
                                                 flipped: str) -> None:
    assert reading(phonemizer, text)[char] == default
    ruled = reading(phonemizer, text, phoneme_rule(char, pinyin, "pinyin"))
    assert ruled[char] == flipped
    others = {k: v for k, v in reading(phonemizer, text).items() if k != char}
    assert {k: v for k, v in ruled.items() if k != char} == others  # the rest unchanged


def test_a_pinyin_rule_for_a_word_reads_each_syllable(phonemizer: Phonemizer) -> None:
    ruled = reading(phonemizer, "银行很大。", phoneme_rule("银行", "yin2 xing2", "pinyin"))
    assert ruled["银行"] == "i↗nɕi↗ŋ"


def test_english_names_by_ipa_arpabet_alias_and_engine_phonemes(phonemizer: Phonemizer) -> None:
    text = "Siobhan met Nguyen at ACME on Kubernetes day."
    plain = reading(phonemizer, text)
    ruled = reading(
        phonemizer, text,
        phoneme_rule("Siobhan", "/ʃɪˈvɔːn/", "ipa"),
        phoneme_rule("Nguyen", "W IH1 N", "cmu-arpabet"),
        alias_rule("ACME", "apple"),
        phoneme_rule("Kubernetes", "kˌuːbɚnˈɛtiːz", "kokoro"),
    )
    assert ruled["Siobhan"] == "ʃɪˈvɔːn"
    assert ruled["Nguyen"] == "wˈɪn"
    assert ruled["ACME"] == reading(phonemizer, "apple")["apple"] != plain["ACME"]
    assert ruled["Kubernetes"] == "kˌuːbɚnˈɛtiːz"
    assert ruled["met"] == plain["met"] and ruled["day"] == plain["day"]


def test_case_and_word_boundaries_decide_what_matches(phonemizer: Phonemizer) -> None:
    strict = alias_rule("ACME", "apple")
    loose = alias_rule("acme", "apple", case_sensitive=False, word_boundaries=False)
    apple = reading(phonemizer, "apple")["apple"]
    assert reading(phonemizer, "acme rocks", strict)["acme"] != apple
    assert reading(phonemizer, "acme rocks", loose)["acme"] == apple
    assert "ACMEs" in reading(phonemizer, "ACMEs rock", strict)


def _timed(client: Any, text: str, locators: list[dict[str, str]]) -> dict[str, Any]:
    response = client.post("/v1/text-to-speech/Demo/with-timestamps", json={
        "text": text, "pronunciation_dictionary_locators": locators})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_alignment_names_the_characters_sent_and_the_sdk_changes_the_audio(
        app: Any, kokoro_engine: Any) -> None:
    with app(engine=kokoro_engine, enrolment=False) as client:
        sdk = ElevenLabs(base_url=str(client.base_url), api_key="unused", httpx_client=client)
        made = sdk.pronunciation_dictionaries.create_from_rules(
            name="names", rules=[Alias(string_to_replace="ACME", alias="Massachusetts")])
        assert made.version_rules_num == 1
        locator = PronunciationDictionaryVersionLocator(
            pronunciation_dictionary_id=made.id, version_id=made.version_id)
        text = "I work at ACME."
        plain = b"".join(sdk.text_to_speech.convert("Demo", text=text,
                                                    output_format="pcm_24000"))
        ruled = b"".join(sdk.text_to_speech.convert(
            "Demo", text=text, output_format="pcm_24000",
            pronunciation_dictionary_locators=[locator]))
        plain_seconds, ruled_seconds = len(plain) / 48000, len(ruled) / 48000
        assert ruled_seconds > plain_seconds + 0.15  # "Massachusetts" is longer than "ACME"
        samples = np.frombuffer(ruled, dtype="<i2").astype(np.float32) / 32768
        assert float(np.sqrt(np.mean(samples ** 2))) > 0.01

        timed = _timed(client, "I work at ACME. 我们去银行。",
                       [{"pronunciation_dictionary_id": made.id}])
        alignment = timed["alignment"]
        assert "".join(alignment["characters"]) == "I work at ACME. 我们去银行。"
        start = alignment["characters"].index("A", 2)
        acme = [end - begin for begin, end in zip(
            alignment["character_start_times_seconds"][start:start + 4],
            alignment["character_end_times_seconds"][start:start + 4], strict=True)]
        assert sum(acme) > 0.3  # the alias is heard, and timed, on "ACME"
        assert base64.b64decode(timed["audio_base64"])

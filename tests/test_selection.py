"""Reference selection by output file name: the seed's table and its edge cases."""

from __future__ import annotations

import pytest

from breathvoice.errors import InvalidRequest
from breathvoice.voices.selection import (
    DEFAULT_EMOTIONS,
    DEFAULT_RULES,
    KeywordRule,
    assign_reference_files,
    contains_keyword,
    emotion_of_reference_file,
    resolve_reference,
    select_emotion,
    strip_extension,
)


@pytest.mark.parametrize(
    ("filename", "emotion"),
    [
        # examples from the seed guide
        ("B1_start_004.wav", "B1_B2"),
        ("B1_test.wav", "B1_B2"),
        ("emotion_B1_test.wav", "B1_B2"),
        ("B1_emotion_test.wav", "B1_B2"),
        ("emotion_B5_orgasm_test.wav", "B5_orgasm"),
        # one row of the table each
        ("greeting_001.wav", "greeting"),
        ("line-B2.wav", "B1_B2"),
        ("B0 intro.wav", "B3_B4"),
        ("scene.B3.wav", "B3_B4"),
        ("B4_loud.flac", "B3_B4"),
        ("impact_02.wav", "B3_B4"),
        ("B5.wav", "B5_orgasm"),
        ("orgasm_take2.mp3", "B5_orgasm"),
        ("narration_01.wav", "greeting"),
        # first match wins, in table order
        ("P0_B4_B5_reaction_17.wav", "B3_B4"),
        ("greeting_B5.wav", "greeting"),
        ("B5_B1.wav", "B1_B2"),
        # case-insensitive
        ("GREETING.WAV", "greeting"),
        ("b1_quiet.wav", "B1_B2"),
        ("Impact.wav", "B3_B4"),
        # never inside a longer token
        ("B10_line.wav", "greeting"),
        ("xB1.wav", "greeting"),
        ("B1x.wav", "greeting"),
        ("impactful.wav", "greeting"),
        ("B55.wav", "greeting"),
        ("orgasmic.wav", "greeting"),
        # non-ASCII text separates tokens
        ("台词B4_03.wav", "B3_B4"),
        ("", "greeting"),
    ],
)
def test_seed_table(filename: str, emotion: str) -> None:
    assert select_emotion(filename) == emotion


def test_extension_is_not_part_of_the_name() -> None:
    rules = (KeywordRule(("wav",), "B1_B2"),)
    assert select_emotion("voice.wav", rules) == "greeting"
    assert select_emotion("wav_voice.wav", rules) == "B1_B2"
    assert strip_extension("B1_test.wav") == "B1_test"
    assert strip_extension("take.B5") == "take.B5"
    assert select_emotion("take.B5") == "B5_orgasm"


def test_group_rules_replace_the_default_table() -> None:
    rules = (KeywordRule(("angry", "shout"), "angry"), KeywordRule(("calm",), "calm"))
    assert select_emotion("shout_03.wav", rules, default="calm") == "angry"
    assert select_emotion("CALM-1.wav", rules, default="calm") == "calm"
    assert select_emotion("B1_line.wav", rules, default="calm") == "calm"


def test_keywords_spanning_separators_match_whole() -> None:
    assert contains_keyword("line_B5_orgasm_2", "B5_orgasm")
    assert not contains_keyword("line_B5_orgasmic", "B5_orgasm")
    assert not contains_keyword("anything", "")


def test_default_rules_are_the_seed_table() -> None:
    assert [r.emotion for r in DEFAULT_RULES] == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    assert DEFAULT_RULES[2].keywords == ("B0", "B3", "B4", "impact")


@pytest.mark.parametrize(
    ("wanted", "available", "used"),
    [
        ("B3_B4", ["greeting", "B1_B2", "B3_B4"], "B3_B4"),
        ("B5_orgasm", ["greeting", "B1_B2"], "greeting"),
        ("B5_orgasm", ["B3_B4", "B1_B2"], "B3_B4"),
        ("greeting", ["B1_B2"], "B1_B2"),
    ],
)
def test_fallback_for_incomplete_groups(wanted: str, available: list[str], used: str) -> None:
    assert resolve_reference(wanted, available) == used


def test_fallback_uses_the_groups_default() -> None:
    assert resolve_reference("x", ["a", "calm", "b"], default="calm") == "calm"


def test_no_reference_at_all_is_an_error() -> None:
    with pytest.raises(InvalidRequest):
        resolve_reference("greeting", [])


@pytest.mark.parametrize(
    ("filename", "emotion"),
    [
        ("NewCharacter_greeting.wav", "greeting"),
        ("NewCharacter_B1_B2.wav", "B1_B2"),
        ("NewCharacter_b3_b4.WAV", "B3_B4"),
        ("Some_Name_B5_orgasm.flac", "B5_orgasm"),
        ("greeting.wav", "greeting"),
        ("NewCharacter_B1.wav", None),
        ("NewCharactergreeting.wav", None),
        ("NewCharacter_greeting_2.wav", None),
    ],
)
def test_reference_file_names(filename: str, emotion: str | None) -> None:
    emotions = ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    assert emotion_of_reference_file(filename, emotions) == emotion


def test_longest_emotion_suffix_wins() -> None:
    assert emotion_of_reference_file("X_B1_B2.wav", ["B2", "B1_B2"]) == "B1_B2"
    assert emotion_of_reference_file("X_B2.wav", ["B2", "B1_B2"]) == "B2"


def test_uploaded_clips_are_assigned_in_declared_order() -> None:
    files = ["Hero_B3_B4.wav", "Hero_greeting.wav"]
    assert assign_reference_files(files, DEFAULT_EMOTIONS, "Hero") == {
        "greeting": "Hero_greeting.wav", "B3_B4": "Hero_B3_B4.wav"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["Hero_greeting.wav", "Hero_happy.wav"], "Hero_happy.wav.*Hero_B5_orgasm.wav"),
        (["Hero_greeting.wav", "Other_greeting.wav"], "both references for 'greeting'"),
        ([], "no reference clips; expected: Hero_greeting.wav"),
    ],
)
def test_unusable_clip_sets_are_explained(files: list[str], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        assign_reference_files(files, DEFAULT_EMOTIONS, "Hero")

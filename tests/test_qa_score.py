"""What was said against the script: normalising, error rates, differences, verdicts."""

from __future__ import annotations

import pytest

from breathvoice.errors import InvalidRequest
from breathvoice.qa.check import take_language
from breathvoice.qa.detectors import FAIL, WARN, Fault
from breathvoice.qa.report import OK, Thresholds, verdict_of
from breathvoice.qa.score import guess_language, normalise, score


def test_a_wrong_word_is_said_in_a_creators_words() -> None:
    result = score("I found a maple leaf.", "I found a apple leaf", "en")
    assert result.metric == "wer"
    assert result.errors == 1 and result.units == 5
    assert result.error_rate == pytest.approx(0.2)
    assert [d.describe() for d in result.differences] == [
        "said 'apple' where the script says 'maple'"]


def test_left_out_and_added_words() -> None:
    result = score("please close the door now", "please close door now thanks", "en")
    assert [d.describe() for d in result.differences] == [
        "left out 'the'", "added 'thanks'"]


@pytest.mark.parametrize(("script", "heard"), [
    ("Hello, World!", "hello world"),
    ("The train leaves in twenty minutes.", "The train leaves in 20 minutes"),
    ("Mr. Smith's colour", "Mister Smith's color"),
])
def test_english_case_punctuation_numbers_and_spelling_are_not_errors(
        script: str, heard: str) -> None:
    assert score(script, heard, "en").errors == 0


@pytest.mark.parametrize(("script", "heard"), [
    ("我們會在下午三點開會。", "我们会在下午三点开会"),       # traditional → simplified
    ("下午3点，共有1,200人", "下午三点共有一千二百人"),       # digits → spoken characters
    ("２０２４年", "二零二四年"),                              # full-width digits
    ("我们用 Python 写代码", "我们用python写代码"),           # Latin words, case
])
def test_chinese_forms_that_read_the_same_are_not_errors(script: str, heard: str) -> None:
    assert score(script, heard, "zh").errors == 0


def test_chinese_is_scored_per_character() -> None:
    result = score("今天天气很好", "今天天气不好", "zh")
    assert result.metric == "cer" and result.units == 6
    assert result.error_rate == pytest.approx(1 / 6)
    assert result.differences[0].describe() == "said '不' where the script says '很'"


@pytest.mark.parametrize(("script", "heard"), [
    ("她每天晚上都会给家里的花浇水。", "他每天晚上都会给家里的花椒水"),  # ta, jiao
    ("请把饺子递给我", "请把角子递给我"),                                # jiao zi
    ("图书馆不开门", "徒叔管不开门"),                                    # tu shu guan
])
def test_chinese_homophones_are_not_errors(script: str, heard: str) -> None:
    assert score(script, heard, "zh").errors == 0


def test_chinese_sounds_that_differ_are_errors_shown_as_characters() -> None:
    result = score("河边的柳树在风中轻轻地摇着", "和边的柳树在风中青青地跑着", "zh")
    assert result.errors == 1 and result.units == 13  # he/he, qing/qing; yao ≠ pao
    assert [d.describe() for d in result.differences] == [
        "said '跑' where the script says '摇'"]
    assert score("外面下着大雨", "我们明天出发", "zh").error_rate > 0.75


def test_japanese_is_scored_per_character() -> None:
    assert normalise("こんにちは、世界！", "ja") == list("こんにちは世界")
    assert score("こんにちは", "こんばんは", "ja").errors == 2


def test_the_language_is_guessed_from_the_text() -> None:
    assert guess_language("你好，世界") == "zh"
    assert guess_language("こんにちは世界") == "ja"
    assert guess_language("Hello there") == "en"
    assert take_language("你好", "zh-CN") == "zh"
    assert take_language("hello", None) == "en"
    with pytest.raises(InvalidRequest, match="language must be one of"):
        take_language("hello", "xx")


def verdict(script: str, heard: str, language: str, *faults: Fault) -> tuple[str, list[str]]:
    return verdict_of(score(script, heard, language), list(faults), Thresholds())


def test_a_right_take_is_ok_with_no_reasons() -> None:
    assert verdict("The train leaves at noon.", "the train leaves at noon", "en") == (OK, [])


def test_a_wrong_sentence_fails_and_says_what_was_heard() -> None:
    result, reasons = verdict("The train leaves at noon.", "My cat sleeps all day", "en")
    assert result == FAIL
    assert reasons[0].startswith("the speech does not match the script")
    assert "WER" in reasons[0]
    assert any("said" in reason for reason in reasons[1:])


def test_a_few_wrong_characters_are_a_warning() -> None:
    result, reasons = verdict("今天天气很好我们去公园", "今天大雨不好你们来工厂", "zh")
    assert result == WARN
    assert "CER" in reasons[0]


def test_the_worst_fault_decides_and_is_told_first() -> None:
    pause = Fault("pause", WARN, "a silence of 2.0 s inside the line at 1.5 s", 1.5)
    clip = Fault("clipping", FAIL, "clipped: 900 samples at full scale", 0.1)
    result, reasons = verdict("hello there", "hello there", "en", pause, clip)
    assert result == FAIL
    assert reasons == [clip.message, pause.message]
    assert verdict("hello there", "hello there", "en", pause) == (WARN, [pause.message])


def test_chinese_heard_in_another_tone_is_an_error_only_when_tones_count() -> None:
    # 买 mǎi (buy) heard as 卖 mài (sell): the same syllable in another tone
    assert score("我买了梨。", "我卖了梨。", "zh").errors == 0
    assert score("我买了梨。", "我卖了梨。", "zh", tones=True).errors == 1
    # a homophone in the same tone is still no error
    assert score("他来了。", "她来了。", "zh", tones=True).errors == 0

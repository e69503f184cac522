"""The multi-context session state machine, driven without sockets or threads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from breathvoice.streaming.buffer import TextBuffer, weighted_length
from breathvoice.streaming.session import (
    Action,
    CancelSynthesis,
    Close,
    Send,
    Session,
    SessionConfig,
    StartSynthesis,
)
from multi_ws_tts_sdk.protocol import Alignment, SendText

EMOTIONS = ("greeting", "B1_B2", "B3_B4", "B5_orgasm")
SENTENCE = "This sentence is long enough to be spoken on its own right now. "


class Driver:
    """A session plus the wire frames it produced, the way the pump would see them."""

    def __init__(self, **config: Any) -> None:
        config.setdefault("emotions", EMOTIONS)
        self.session = Session(SessionConfig(**config), now=0.0)
        self.now = 0.0
        self.frames: list[dict[str, Any]] = []
        self.started: list[StartSynthesis] = []
        self.cancelled: list[CancelSynthesis] = []
        self.closed_with: Close | None = None
        self.log: list[Any] = []

    def send(self, **message: Any) -> list[Action]:
        return self.raw(json.dumps(message))

    def raw(self, frame: str | bytes) -> list[Action]:
        self.session.receive(frame, self.now)
        return self._collect()

    def chunk(self, start: StartSynthesis, audio: bytes = b"\x01\x02",
              alignment: Alignment | None = None) -> list[Action]:
        self.session.synthesis_chunk(start.generation_id, audio, alignment)
        return self._collect()

    def done(self, start: StartSynthesis) -> list[Action]:
        self.session.synthesis_done(start.generation_id)
        return self._collect()

    def fail(self, start: StartSynthesis, message: str = "engine fault") -> list[Action]:
        self.session.synthesis_failed(start.generation_id, message)
        return self._collect()

    def tick(self, now: float) -> list[Action]:
        self.now = now
        self.session.tick(now)
        return self._collect()

    def lost(self) -> list[Action]:
        self.session.connection_lost()
        return self._collect()

    def speak(self, context_id: str, text: str = SENTENCE) -> StartSynthesis:
        """Send text with flush; return the generation it started."""
        actions = self.send(text=text, context_id=context_id, flush=True)
        (start,) = [a for a in actions if isinstance(a, StartSynthesis)]
        return start

    def finals(self) -> list[str]:
        return [f["contextId"] for f in self.frames if f.get("isFinal") is True]

    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "error" in f]

    def _collect(self) -> list[Action]:
        actions = self.session.actions()
        for action in actions:
            self.log.append(action)
            if isinstance(action, Send):
                frame = action.message.to_dict()
                self.frames.append(frame)
                self.log[-1] = frame
            elif isinstance(action, StartSynthesis):
                self.started.append(action)
            elif isinstance(action, CancelSynthesis):
                self.cancelled.append(action)
            elif isinstance(action, Close):
                assert self.closed_with is None, "closed twice"
                self.closed_with = action
        return actions


def starts(actions: list[Action]) -> list[StartSynthesis]:
    return [a for a in actions if isinstance(a, StartSynthesis)]


# -- a context's life ----------------------------------------------------------------------


def test_flushed_text_is_synthesised_and_its_audio_sent_in_camel_case() -> None:
    d = Driver()
    start = d.speak("c1", "Hello world. ")
    assert (start.context_id, start.text, start.emotion, start.speed) == (
        "c1", "Hello world.", "greeting", 1.0)
    assert start.first_in_context and not start.with_alignment and d.frames == []
    d.chunk(start, b"\x00\x01")
    assert d.frames == [{"audio": "AAE=", "contextId": "c1", "isFinal": False}]


def test_close_context_speaks_buffered_text_then_sends_exactly_one_final() -> None:
    d = Driver()
    d.send(text="Unflushed words ", context_id="c1")
    assert d.started == []
    (start,) = starts(d.send(context_id="c1", close_context=True))
    assert start.text == "Unflushed words" and d.finals() == []
    assert d.session.open_contexts == ()  # the slot is free while its audio is still coming
    d.chunk(start)
    d.done(start)
    assert d.finals() == ["c1"]
    assert d.frames[-1] == {"isFinal": True, "contextId": "c1"}
    d.send(context_id="c1", close_context=True)  # a second close is tolerated silently
    d.send(context_id="c1", text="")  # so is a keep-alive for a closed context
    assert d.finals() == ["c1"] and d.errors() == [] and not d.session.closed


def test_closing_an_idle_context_sends_its_final_at_once() -> None:
    d = Driver()
    d.send(text=" ", context_id="c1", voice_settings={})
    assert d.started == [] and d.session.open_contexts == ("c1",)
    d.send(context_id="c1", close_context=True)
    assert d.frames == [{"isFinal": True, "contextId": "c1"}]


def test_generations_of_one_context_run_one_at_a_time_in_order() -> None:
    d = Driver()
    first = d.speak("c1", "First part. ")
    assert starts(d.send(text="Second part. ", context_id="c1", flush=True)) == []
    d.chunk(first, b"1")
    (second,) = starts(d.done(first))
    assert second.text == "Second part." and not second.first_in_context
    assert second.generation_id != first.generation_id
    d.chunk(second, b"2")
    assert [f["audio"] for f in d.frames] == ["MQ==", "Mg=="]


def test_different_contexts_synthesise_concurrently() -> None:
    d = Driver()
    a, b = d.speak("a"), d.speak("b")
    assert {a.context_id, b.context_id} == {"a", "b"} and a.first_in_context and b.first_in_context
    d.chunk(b, b"b")
    d.chunk(a, b"a")
    assert [f["contextId"] for f in d.frames] == ["b", "a"]


def test_a_failed_generation_reports_an_error_and_the_context_carries_on() -> None:
    d = Driver()
    first = d.speak("c1", "First. ")
    d.send(text="Second. ", context_id="c1", flush=True)
    d.send(context_id="c1", close_context=True)
    (second,) = starts(d.fail(first))
    assert d.errors() == [{"error": "STREAMING_SERVICE_ERROR", "message": "engine fault",
                           "contextId": "c1", "context_id": "c1"}]
    d.chunk(second)
    d.done(second)
    assert d.finals() == ["c1"] and not d.session.closed


# -- limits and id reuse -------------------------------------------------------------------


def test_a_sixth_context_is_refused_without_closing_and_a_closed_one_frees_its_slot() -> None:
    d = Driver()
    running = [d.speak(f"c{i}") for i in range(5)]
    assert starts(d.send(text=SENTENCE, context_id="c5", flush=True)) == []
    (error,) = d.errors()
    assert error["error"] == "MAX_CONTEXT_LIMIT_EXCEEDED" and error["contextId"] == "c5"
    assert not d.session.closed and "c5" not in d.session.open_contexts

    d.send(context_id="c0", close_context=True)  # c0 is still generating
    sixth = d.speak("c5")
    assert sixth.context_id == "c5" and len(d.session.open_contexts) == 5
    d.chunk(running[0], b"old")
    d.done(running[0])
    assert d.finals() == ["c0"]
    assert {"audio": "b2xk", "contextId": "c0", "isFinal": False} in d.frames


def test_the_context_limit_is_configurable() -> None:
    d = Driver(max_contexts=1)
    d.speak("a")
    d.send(text="Hi ", context_id="b")
    assert [e["error"] for e in d.errors()] == ["MAX_CONTEXT_LIMIT_EXCEEDED"]
    assert str(1) in d.errors()[0]["message"]


def test_a_reused_id_starts_after_the_old_context_has_ended() -> None:
    d = Driver()
    old = d.speak("c1", "Old turn. ")
    d.send(context_id="c1", close_context=True)
    assert starts(d.send(text="New turn. ", context_id="c1", flush=True)) == []
    assert d.session.open_contexts == ("c1",)
    d.chunk(old, b"old")
    (new,) = starts(d.done(old))
    assert new.text == "New turn." and new.first_in_context
    d.chunk(new, b"new")
    d.send(context_id="c1", close_context=True)
    d.done(new)
    assert [f.get("audio", "FINAL") for f in d.frames] == ["b2xk", "FINAL", "bmV3", "FINAL"]


def test_events_of_unknown_finished_or_cancelled_generations_are_dropped() -> None:
    d = Driver()
    start = d.speak("c1")
    assert d.chunk(StartSynthesis("c1", 999, "x", "greeting", 1.0, None, False, True)) == []
    d.session.synthesis_done(999)
    d.session.synthesis_failed(999, "boom")
    d.done(start)
    assert d.chunk(start) == [] and d.done(start) == [] and d.fail(start) == []
    running = d.speak("c1")
    assert d.lost() == [CancelSynthesis("c1", running.generation_id)]
    assert d.chunk(running) == [] and d.done(running) == [] and d.frames == []
    assert d.raw(json.dumps({"text": "more", "context_id": "c1", "flush": True})) == []


def test_an_empty_audio_chunk_is_not_sent() -> None:
    d = Driver()
    start = d.speak("c1")
    assert d.chunk(start, b"") == []


def test_alignment_is_sent_only_when_asked_for() -> None:
    alignment = Alignment(("H", "i"), (0, 100), (100, 50))
    plain = Driver()
    plain.chunk(plain.speak("c1"), alignment=alignment)
    assert "alignment" not in plain.frames[0]
    synced = Driver(sync_alignment=True)
    start = synced.speak("c1")
    assert start.with_alignment
    synced.chunk(start, alignment=alignment)
    assert synced.frames[0]["alignment"]["charStartTimesMs"] == [0, 100]
    assert synced.frames[0]["normalizedAlignment"]["chars"] == ["H", "i"]


# -- tolerance and bad input ---------------------------------------------------------------


def test_what_elevenlabs_clients_send_is_tolerated_silently() -> None:
    d = Driver()
    d.send(text="")  # keep-alive without context_id
    d.send(text="", context_id="never-opened")
    d.send(context_id="never-opened", close_context=True)
    d.send(context_id="never-opened", flush=True)
    d.send(context_id="never-opened", text="", flush=True)
    d.send(text=" ", context_id="c1", voice_settings={}, generation_config={})
    d.send(context_id="c1", flush=True)  # nothing buffered
    d.send(context_id="c1", text="", flush=True)
    d.send(text="Hi ", context_id="c1", voice_settings={"stability": 0.5, "style": 0.1,
                                                        "similarity_boost": 0.8,
                                                        "use_speaker_boost": True})
    assert d.frames == [] and d.started == [] and not d.session.closed
    assert d.session.open_contexts == ("c1",)


@pytest.mark.parametrize(("frame", "context_id"), [
    ("not json", None), ("[]", None), (b"\xff", None),
    ('{"text": 5, "context_id": "c1"}', "c1"),
    ('{"text": "a", "contextId": "c1", "flush": 1}', "c1"),
])
def test_a_bad_message_gets_invalid_request_and_the_session_goes_on(
    frame: str | bytes, context_id: str | None
) -> None:
    d = Driver()
    d.raw(frame)
    (error,) = d.errors()
    assert error["error"] == "INVALID_REQUEST" and error["message"]
    assert error.get("contextId") == context_id
    assert d.closed_with is None and d.started == []
    assert d.speak("c1").text == SENTENCE.strip()


def test_parsed_messages_are_accepted_too() -> None:
    d = Driver()
    d.session.receive(SendText("Hello. ", "c1", flush=True), 0.0)
    assert [s.text for s in starts(d.session.actions())] == ["Hello."]


def test_too_much_waiting_text_is_refused_for_that_message_only() -> None:
    d = Driver(max_pending_chars=200)
    running = d.speak("c1", "x" * 150 + " ")
    d.send(text="z" * 120, context_id="c1", flush=True)  # waits behind the running one
    d.send(text="y" * 100, context_id="c1", flush=True)
    (error,) = d.errors()
    assert error["error"] == "PAYLOAD_TOO_LARGE" and error["contextId"] == "c1"
    d.done(running)
    d.send(text="y" * 100, context_id="c1", flush=True)
    d.done(d.started[-1])
    assert [s.text[0] for s in d.started] == ["x", "z", "y"]


# -- emotion and voice settings ------------------------------------------------------------


def test_emotion_defaults_to_greeting_and_is_chosen_per_context() -> None:
    d = Driver()
    assert d.speak("plain").emotion == "greeting"
    assert d.send(text="Hi ", context_id="hot", emotion="b5_ORGASM") == []
    (start,) = starts(d.send(context_id="hot", flush=True))
    assert start.emotion == "B5_orgasm"
    d.send(text="Again. ", context_id="plain", emotion="B1_B2")
    d.send(context_id="plain", flush=True)
    d.done(d.started[0])
    assert d.started[-1].emotion == "B1_B2"


def test_an_unknown_emotion_is_refused_and_opens_nothing() -> None:
    d = Driver()
    d.send(text="Hi. ", context_id="c1", emotion="angry", flush=True)
    (error,) = d.errors()
    assert error["error"] == "INVALID_REQUEST" and error["contextId"] == "c1"
    assert "angry" in error["message"] and "B1_B2" in error["message"]
    assert d.started == [] and d.session.open_contexts == ()


def test_the_default_emotion_is_configurable() -> None:
    assert Driver(default_emotion="B3_B4").speak("c1").emotion == "B3_B4"


def test_speed_and_language_reach_synthesis() -> None:
    d = Driver(language="zh")
    d.send(text=" ", context_id="c1", voice_settings={"speed": 1.15})
    start = d.speak("c1")
    assert start.speed == 1.15 and start.language == "zh"


# -- close_socket, inactivity, the single-stream style -------------------------------------


def test_close_socket_finishes_every_context_then_closes_with_1000() -> None:
    d = Driver()
    a = d.speak("a")
    d.send(text="Buffered words ", context_id="b")
    d.send(text=" ", context_id="idle")
    d.send(close_socket=True)
    assert d.finals() == ["idle"] and d.closed_with is None
    (b,) = [s for s in d.started if s.context_id == "b"]
    d.send(text="ignored after close_socket. ", context_id="c", flush=True)
    d.chunk(b)
    d.done(b)
    assert d.finals() == ["idle", "b"] and d.closed_with is None
    d.tick(1000.0)  # no inactivity timeout while closing
    assert d.errors() == []
    d.chunk(a)
    d.done(a)
    assert d.finals() == ["idle", "b", "a"]
    assert d.log[-1] == Close(1000, "") and d.session.closed
    assert [s.context_id for s in d.started] == ["a", "b"]


def test_close_socket_with_nothing_pending_closes_at_once() -> None:
    d = Driver()
    d.send(close_socket=True)
    assert d.closed_with == Close(1000, "") and d.frames == []
    assert d.send(text="late ", context_id="c1", flush=True) == []


def test_silence_for_the_inactivity_timeout_closes_with_input_timeout() -> None:
    d = Driver()
    assert d.tick(19.9) == []
    d.send(text="", context_id="whatever")  # any message counts as activity
    assert d.tick(39.8) == []
    d.tick(39.9)
    (error,) = d.errors()
    assert error["error"] == "INPUT_TIMEOUT_EXCEEDED" and "contextId" not in error
    assert d.closed_with == Close(1008, "input timeout")
    assert d.send(text="late. ", context_id="c1", flush=True) == [] and d.tick(100.0) == []


def test_the_timer_stops_while_audio_is_being_made() -> None:
    d = Driver(inactivity_timeout=5)
    start = d.speak("c1")
    assert d.tick(60.0) == []
    d.done(start)
    assert d.tick(64.0) == []
    d.tick(65.0)
    assert d.closed_with is not None and d.closed_with.code == 1008


def test_an_idle_context_is_closed_while_others_stay_busy() -> None:
    d = Driver(inactivity_timeout=10)
    d.send(text="Half a thought ", context_id="idle")
    d.send(text=" ", context_id="chatty")
    for second in range(1, 10):
        d.now = float(second)
        d.send(text="", context_id="chatty")
        d.tick(float(second))
    d.now = 10.0
    d.send(text="", context_id="chatty")
    d.tick(10.0)
    (start,) = d.started
    assert start.context_id == "idle" and start.text == "Half a thought"
    assert d.session.open_contexts == ("chatty",) and d.errors() == []
    d.done(start)
    assert d.finals() == ["idle"] and not d.session.closed


def test_single_stream_style_clients_get_their_audio_and_a_final() -> None:
    d = Driver()
    d.send(text=" ", voice_settings={"speed": 1.0}, generation_config={
        "chunk_length_schedule": [50]})
    start = d.speak("default", "Hello from a client that never names a context. ")
    d.send(text="")  # end of input, as on the single-stream socket
    d.chunk(start)
    d.done(start)
    assert [f.get("contextId") for f in d.frames] == ["default", "default"]
    assert d.finals() == ["default"] and not d.session.closed


# -- buffering rules -----------------------------------------------------------------------


def test_text_waits_for_the_first_schedule_length_then_goes_out_at_a_sentence_end() -> None:
    d = Driver()
    d.send(text="A" * 60 + ". ", context_id="c1")
    d.send(text="Then some more words ", context_id="c1")
    assert d.started == []
    (start,) = starts(d.send(text="w " * 20, context_id="c1"))
    assert start.text == "A" * 60 + "."
    assert d.session.open_contexts == ("c1",)


def test_each_release_needs_the_next_schedule_length() -> None:
    buffer = TextBuffer((10, 20))
    assert buffer.append("one two three ") == ["one two three "]
    assert buffer.append("four five six ") == []
    assert buffer.append("seven ") == ["four five six seven "]
    assert buffer.append("a b c d e f g h i j ") == ["a b c d e f g h i j "]


def test_a_word_is_never_split_without_punctuation() -> None:
    buffer = TextBuffer((20,))
    assert buffer.append("alpha beta gamma delt") == ["alpha beta gamma "]
    assert buffer.text == "delt"


def test_clause_ends_are_preferred_to_word_ends() -> None:
    buffer = TextBuffer((20,))
    assert buffer.append("first clause, then the rest of it") == ["first clause, "]


def test_decimal_points_are_not_sentence_ends() -> None:
    buffer = TextBuffer((12,))
    assert buffer.append("Pi is 3.14159 roughly") == ["Pi is 3.14159 "]


def test_flush_releases_everything_and_restarts_the_schedule() -> None:
    buffer = TextBuffer((10, 100))
    assert buffer.append("a few words ") == ["a few words "]
    assert buffer.flush() == "" and buffer.append("short") == []
    assert buffer.flush() == "short"
    assert buffer.append("more words ") == ["more words "]


def test_chunk_length_schedule_comes_from_generation_config() -> None:
    d = Driver()
    d.send(text=" ", context_id="c1", generation_config={"chunk_length_schedule": [10]})
    (start,) = starts(d.send(text="Short one. ", context_id="c1"))
    assert start.text == "Short one."


def test_cjk_text_counts_triple_toward_the_schedule() -> None:
    assert weighted_length("你好ab") == 8
    buffer = TextBuffer((120,))
    assert buffer.append("今天天气很好。" * 5) == []
    assert buffer.append("我们去公园散步吧。" ) == ["今天天气很好。" * 5 + "我们去公园散步吧。"]


def test_auto_mode_releases_each_sentence_at_once() -> None:
    d = Driver(auto_mode=True)
    (first,) = starts(d.send(text="Hi.", context_id="c1"))
    assert first.text == "Hi."
    d.send(text="No punctuation yet", context_id="c1")
    d.send(text=" and none in this long clause, but", context_id="c1")
    d.done(first)
    clause = "No punctuation yet and none in this long clause,"
    assert [s.text for s in d.started] == ["Hi.", clause]


def test_auto_mode_bounds_text_without_punctuation() -> None:
    buffer = TextBuffer((120, 160, 250, 290), auto_mode=True)
    assert buffer.append("word " * 57) == []
    assert buffer.append("word word ") == ["word " * 59]


def test_a_schedule_needs_positive_lengths() -> None:
    with pytest.raises(ValueError):
        TextBuffer(())
    with pytest.raises(ValueError):
        TextBuffer((0,))

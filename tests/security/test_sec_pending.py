"""The cap on text waiting per socket is exact, and checking it does not slow each message.

Every message is checked against ``max_pending_chars`` (text buffered in open contexts plus
text queued behind a running generation). A client can queue thousands of tiny pieces;
if the check added them all up on each message, message ``n`` would cost ``n`` and the
connection's work would grow with the square of its messages.
"""

from __future__ import annotations

import json
import time

from breathvoice.streaming.session import Send, Session, SessionConfig, StartSynthesis

EMOTIONS = ("greeting",)


def send(session: Session, text: str, context_id: str = "c") -> list[str]:
    """Send flushed text; the error codes that came back."""
    frame = json.dumps({"text": text, "context_id": context_id, "flush": True})
    session.receive(frame, 0.0)
    frames = [action.message.to_dict() for action in session.actions()
              if isinstance(action, Send)]
    return [frame["error"] for frame in frames if "error" in frame]


def started(session: Session) -> list[StartSynthesis]:
    return [action for action in session.actions() if isinstance(action, StartSynthesis)]


def test_queued_text_counts_exactly_until_it_starts() -> None:
    session = Session(SessionConfig(emotions=EMOTIONS, max_pending_chars=100), now=0.0)
    session.receive(json.dumps({"text": "x" * 10, "context_id": "c", "flush": True}), 0.0)
    (running,) = started(session)  # a running generation no longer counts
    assert send(session, "a" * 30) == []
    assert send(session, "b" * 30) == []
    assert send(session, "c" * 40) == []  # exactly at the cap
    assert send(session, "d") == ["PAYLOAD_TOO_LARGE"]
    session.synthesis_done(running.generation_id)
    (next_up,) = started(session)
    assert next_up.text == "a" * 30
    assert send(session, "d" * 30) == []  # the started piece freed its 30 characters
    assert send(session, "e") == ["PAYLOAD_TOO_LARGE"]
    session.synthesis_done(next_up.generation_id)
    for expected in ("b" * 30, "c" * 40, "d" * 30):
        (start,) = started(session)
        assert start.text == expected
        session.synthesis_done(start.generation_id)
    assert send(session, "f" * 100) == []  # all drained: the whole cap is free again


def queue_seconds(pieces: int) -> float:
    """Seconds to queue ``pieces`` tiny generations behind a running one."""
    session = Session(SessionConfig(emotions=EMOTIONS, max_pending_chars=10**9), now=0.0)
    send(session, "Running.")
    frames = [json.dumps({"text": "a.", "context_id": "c", "flush": True})] * pieces
    started_at = time.perf_counter()
    for frame in frames:
        session.receive(frame, 0.0)
    took = time.perf_counter() - started_at
    assert len(started(session)) == 0  # everything waited in the queue
    return took


def test_each_message_costs_the_same_however_long_the_queue() -> None:
    small = min(queue_seconds(2_500) for _ in range(3))
    large = min(queue_seconds(10_000) for _ in range(3))
    # Linear work gives about 4x; adding up the queue on each message gives about 16x.
    assert large <= 8 * small, f"{large * 1e3:.0f} ms vs {small * 1e3:.0f} ms"

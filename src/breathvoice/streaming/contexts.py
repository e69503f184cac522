"""The state of a multi-context session's contexts, with no I/O.

A :class:`Context` is an open context: its text not yet released and the voice options of
its next releases. Each context id has a lane: its generations, and ``None`` for a closed
context's final, in the order they came. A lane runs one generation at a time, so a
context's audio goes out in order and the final of a closed context follows its audio; the
id may be reused at once, the new context's work queued behind the old one's final.

What the lanes decide goes into the session's list of actions: a
:class:`~.actions.StartSynthesis` when a generation may start, a :class:`~.actions.Send` of
each final as its turn comes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from breathvoice.pronunciation.lexicon import Lexicon
from breathvoice.streaming.actions import (
    Action,
    CancelSynthesis,
    Send,
    SessionConfig,
    StartSynthesis,
)
from breathvoice.streaming.buffer import DEFAULT_CHUNK_LENGTH_SCHEDULE, TextBuffer
from breathvoice.streaming.holdback import MatchGuard
from multi_ws_tts_sdk.protocol import FinalOutput


@dataclass
class Context:
    """An open context: text not yet released and the voice options of its next releases."""

    context_id: str
    buffer: TextBuffer
    emotion: str
    last_input: float
    speed: float = 1.0
    generations: int = 0
    lexicon: Lexicon | None = None
    held_since: float | None = None
    """When a flush kept back the start of a rule's string (None: nothing is held)."""

    @classmethod
    def open(cls, context_id: str, now: float, config: SessionConfig,
             lexicon: Lexicon | None) -> Context:
        """A new context applying ``lexicon`` (None: no pronunciation rules)."""
        guard = MatchGuard(lexicon) if lexicon else None
        buffer = TextBuffer(DEFAULT_CHUNK_LENGTH_SCHEDULE, auto_mode=config.auto_mode,
                            guard=guard)
        return cls(context_id, buffer, config.default_emotion, now, lexicon=lexicon)


@dataclass
class _Lane:
    """Work of one context id, in order: generations, and ``None`` for a closed one's final."""

    queue: deque[StartSynthesis | None] = field(default_factory=deque)
    running: StartSynthesis | None = None


class Lanes:
    """The lanes of one connection, emitting into ``actions`` (the session's list)."""

    def __init__(self, actions: list[Action]) -> None:
        self._actions = actions
        self._lanes: dict[str, _Lane] = {}
        self._running: dict[int, str] = {}
        self.queued_chars = 0
        """Text of the generations waiting in the lanes (not yet started)."""

    def __bool__(self) -> bool:
        """True while any context id has work queued or running."""
        return bool(self._lanes)

    def __contains__(self, context_id: object) -> bool:
        return context_id in self._lanes

    def context_of(self, generation_id: int) -> str | None:
        """The context id of a running generation (None: finished or cancelled)."""
        return self._running.get(generation_id)

    def push(self, generation: StartSynthesis) -> None:
        """Queue a generation behind its context id's earlier work."""
        self.queued_chars += len(generation.text)
        self._lanes.setdefault(generation.context_id, _Lane()).queue.append(generation)
        self._advance(generation.context_id)

    def push_final(self, context_id: str) -> None:
        """Queue the final of a closed context behind its audio."""
        self._lanes.setdefault(context_id, _Lane()).queue.append(None)
        self._advance(context_id)

    def done(self, generation_id: int) -> str | None:
        """A generation finished: start its lane's next work; returns its context id."""
        context_id = self._running.pop(generation_id, None)
        if context_id is not None:
            self._lanes[context_id].running = None
            self._advance(context_id)
        return context_id

    def cancel_all(self) -> None:
        """Cancel whatever is running and forget all queued work."""
        for generation_id, context_id in self._running.items():
            self._actions.append(CancelSynthesis(context_id, generation_id))
        self._running.clear()
        self._lanes.clear()
        self.queued_chars = 0

    def _advance(self, context_id: str) -> None:
        """Start the lane's next generation, sending the finals that come before it."""
        lane = self._lanes[context_id]
        if lane.running is not None:
            return
        while lane.queue:
            item = lane.queue.popleft()
            if item is None:
                self._actions.append(Send(FinalOutput(context_id)))
                continue
            self.queued_chars -= len(item.text)
            lane.running = item
            self._running[item.generation_id] = context_id
            self._actions.append(item)
            return
        del self._lanes[context_id]

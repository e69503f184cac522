"""What a :class:`~.session.Session` is configured with and what it asks its caller to do.

The caller (the WebSocket pump) feeds in what happened and executes what comes out::

    session.receive(frame, now)                        a client frame arrived
    session.synthesis_chunk(generation_id, audio)      a StartSynthesis produced encoded audio
    session.synthesis_done(generation_id)              ... finished
    session.synthesis_failed(generation_id, message)   ... failed
    session.tick(now)                                  at least once a second (timeouts)
    session.connection_lost()                          the client went away
    for action in session.actions(): ...               Send, StartSynthesis, CancelSynthesis, Close

Actions must be executed in the order they come: a :class:`Send` of a context's final
follows the sends of its audio, and a :class:`Close` follows every send before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from breathvoice.pronunciation.lexicon import Lexicon
from multi_ws_tts_sdk.protocol import ServerMessage

NORMAL_CLOSURE = 1000


@dataclass(frozen=True)
class SessionConfig:
    emotions: tuple[str, ...] = ("greeting",)
    """Emotions of the voice group a context may pick (matched case-insensitively)."""
    default_emotion: str = "greeting"
    max_contexts: int = 5
    inactivity_timeout: float = 20.0
    auto_mode: bool = False
    sync_alignment: bool = False
    """Send character alignment with each audio chunk."""
    language: str | None = None
    max_pending_chars: int = 20_000
    """Text buffered or waiting for synthesis on the whole connection, at most."""
    lexicon: Lexicon | None = None
    """Pronunciation rules of a context that names no dictionaries (the voice group's)."""
    pronunciation_hold_seconds: float = 0.5
    """How long a flush may keep back the start of a rule's string, waiting for more text."""


@dataclass(frozen=True)
class Send:
    """Send this message to the client."""

    message: ServerMessage


@dataclass(frozen=True)
class StartSynthesis:
    """Speak ``text``; report with synthesis_chunk/done/failed(generation_id)."""

    context_id: str
    generation_id: int
    text: str
    emotion: str
    speed: float
    language: str | None
    with_alignment: bool
    first_in_context: bool
    """The context's first audio: serve it before later chunks of other contexts."""
    lexicon: Lexicon | None = None
    """The context's pronunciation rules."""


@dataclass(frozen=True)
class CancelSynthesis:
    """Nobody wants this generation's audio any more: stop it."""

    context_id: str
    generation_id: int


@dataclass(frozen=True)
class Close:
    """Close the WebSocket with this code and reason; the session is over."""

    code: int
    reason: str = ""


Action = Send | StartSynthesis | CancelSynthesis | Close

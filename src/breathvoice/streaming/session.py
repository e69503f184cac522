"""One multi-context WebSocket connection as a state machine with no I/O.

The caller (the WebSocket pump) feeds in what happened (``receive``, ``synthesis_*``,
``tick``, ``connection_lost``) and executes, in order, what :meth:`Session.actions`
returns (see :mod:`~.actions`).

Rules (ElevenLabs' multi-context socket):

- A context opens with its first text and holds one of ``max_contexts`` slots until it is
  closed; a 6th gets ``MAX_CONTEXT_LIMIT_EXCEEDED`` and nothing else happens.
- Text is buffered per context and released by :class:`~.buffer.TextBuffer`; each release
  is one :class:`StartSynthesis`. A context id has at most one generation running; the
  rest wait, so a context's audio goes out in order.
- ``close_context`` frees the slot at once; the buffered text is still spoken, and after
  its audio exactly one final message goes out. The id may be reused at once: the new
  context's audio follows the old one's final.
- ``close_socket`` closes every context the same way, then ``Close(1000)``.
- Bad messages get ``INVALID_REQUEST`` and are otherwise ignored. Keep-alives and second
  closes of unknown or closed contexts, and flushes with nothing to say, are tolerated.
- Inactivity (the timer stops while audio is being made): a context without input for
  ``inactivity_timeout`` seconds is closed as by ``close_context``; a connection without
  any input that long gets ``INPUT_TIMEOUT_EXCEEDED`` and ``Close(1008)``.
- ``{"text": ""}`` without ``context_id`` ends the default context if one is open (what a
  single-stream client means by it), else it is a keep-alive.
- Pronunciation: a context applies the lexicon given with its first message, else
  ``config.lexicon``; a flush may keep back the start of a rule's string for up to
  ``pronunciation_hold_seconds`` (see :mod:`~.holdback`).
- ``voice_settings.speed`` sets the speaking rate; ``stability``, ``similarity_boost``,
  ``style`` and ``use_speaker_boost`` are accepted and ignored. ``emotion`` picks one of
  the voice group's emotions (unknown: ``INVALID_REQUEST``); the default is ``greeting``.
"""

from __future__ import annotations

import itertools

from breathvoice.errors import (
    ContextLimitExceeded,
    EngineError,
    InputTimeout,
    InvalidRequest,
    PayloadTooLarge,
)
from breathvoice.pronunciation.lexicon import Lexicon
from breathvoice.streaming.actions import (
    NORMAL_CLOSURE,
    Action,
    CancelSynthesis,
    Close,
    Send,
    SessionConfig,
    StartSynthesis,
)
from breathvoice.streaming.contexts import Context, Lanes
from multi_ws_tts_sdk.protocol import (
    DEFAULT_CONTEXT_ID,
    Alignment,
    AudioOutput,
    ClientMessage,
    CloseContext,
    CloseSocket,
    ErrorOutput,
    KeepAlive,
    ProtocolError,
    SendText,
    ServerMessage,
    context_id_in,
    parse_client_message,
)

__all__ = [
    "NORMAL_CLOSURE", "Action", "CancelSynthesis", "Close", "Send", "Session", "SessionConfig",
    "StartSynthesis",
]


class Session:
    def __init__(self, config: SessionConfig, now: float) -> None:
        self.config = config
        self._emotions = {name.lower(): name for name in config.emotions}
        self._contexts: dict[str, Context] = {}
        self._generation_ids = itertools.count(1)
        self._actions: list[Action] = []
        self._lanes = Lanes(self._actions)
        self._last_input = now
        self._closing = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once Close was emitted or the connection was lost."""
        return self._closed

    @property
    def open_contexts(self) -> tuple[str, ...]:
        """Ids of the contexts holding a slot."""
        return tuple(self._contexts)

    def actions(self) -> list[Action]:
        """What the caller must do now, in order (each action is returned once)."""
        actions = list(self._actions)
        self._actions.clear()
        return actions

    # -- input from the client ---------------------------------------------------------------

    def receive(self, data: str | bytes | ClientMessage, now: float,
                lexicon: Lexicon | None = None) -> None:
        """A frame (or an already parsed message) from the client; ``lexicon``: the rules
        of the context it opens, when it names dictionaries."""
        if self._closed:
            return
        self._last_input = now
        if isinstance(data, str | bytes):
            try:
                message = parse_client_message(data)
            except ProtocolError as exc:
                self._error(InvalidRequest.code, str(exc), context_id_in(data))
                return
        else:
            message = data
        if self._closing:
            return  # close_socket was the client's last word
        if isinstance(message, SendText):
            self._on_text(message, now, lexicon)
        elif isinstance(message, KeepAlive):
            self._on_keep_alive(message.context_id, now)
        elif isinstance(message, CloseContext):
            self._close_context(message.context_id or DEFAULT_CONTEXT_ID)
        elif isinstance(message, CloseSocket):
            for context_id in list(self._contexts):
                self._close_context(context_id)
            self._closing = True
            self._close_if_drained()

    def _on_text(self, message: SendText, now: float, lexicon: Lexicon | None) -> None:
        context_id = message.context_id or DEFAULT_CONTEXT_ID
        context = self._contexts.get(context_id)
        if context is None and message.text == "":
            return  # a flush with nothing to say for a context that is not open
        emotion = None
        if message.emotion is not None:
            emotion = self._emotions.get(message.emotion.lower())
            if emotion is None:
                known = ", ".join(self.config.emotions)
                reason = f"Unknown emotion '{message.emotion}'; this voice has: {known}"
                return self._error(InvalidRequest.code, reason, context_id)
        if self._pending_chars() + len(message.text) > self.config.max_pending_chars:
            reason = "Too much text is waiting to be spoken; wait for audio before sending more"
            return self._error(PayloadTooLarge.code, reason, context_id)
        if context is None:
            if len(self._contexts) >= self.config.max_contexts:
                limit = self.config.max_contexts
                reason = (f"Maximum simultaneous contexts per connection exceeded ({limit}); "
                          "close a context before opening a new one")
                return self._error(ContextLimitExceeded.code, reason, context_id)
            context = Context.open(context_id, now, self.config, lexicon or self.config.lexicon)
            self._contexts[context_id] = context
        context.last_input = now
        context.held_since = None
        context.emotion = emotion or context.emotion
        if message.voice_settings is not None and message.voice_settings.speed is not None:
            context.speed = message.voice_settings.speed
        config = message.generation_config
        if config is not None and config.chunk_length_schedule is not None:
            context.buffer.schedule = config.chunk_length_schedule
        pieces = context.buffer.append(message.text)
        if message.flush:
            pieces.append(context.buffer.flush(complete=False))
            context.held_since = now if context.buffer.text else None
        for piece in pieces:
            self._enqueue(context, piece)

    def _on_keep_alive(self, context_id: str | None, now: float) -> None:
        if context_id is None and DEFAULT_CONTEXT_ID in self._contexts:
            self._close_context(DEFAULT_CONTEXT_ID)
        elif context_id in self._contexts:
            self._contexts[context_id].last_input = now

    # -- input from synthesis ----------------------------------------------------------------

    def synthesis_chunk(
        self, generation_id: int, audio: bytes, alignment: Alignment | None = None
    ) -> None:
        """Encoded audio of a running generation; events of cancelled ones are dropped."""
        context_id = self._lanes.context_of(generation_id)
        if context_id is None or not audio:
            return
        if not self.config.sync_alignment:
            alignment = None
        self._send(AudioOutput(audio, context_id, alignment, normalized_alignment=alignment))

    def synthesis_done(self, generation_id: int) -> None:
        if self._lanes.done(generation_id) is not None:
            self._close_if_drained()

    def synthesis_failed(
        self, generation_id: int, message: str = EngineError.default_message,
        code: str = EngineError.code,
    ) -> None:
        """The generation stopped with an error; the context carries on with its next text."""
        context_id = self._lanes.context_of(generation_id)
        if context_id is not None:
            self._error(code, message, context_id)
            self.synthesis_done(generation_id)

    # -- time and the connection -------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Let time pass: closes idle contexts and, after a silent spell, the connection."""
        if self._closed:
            return
        timeout = self.config.inactivity_timeout
        if self._lanes or self._closing:
            self._last_input = now
        elif now - self._last_input >= timeout:
            reason = f"No input received within {timeout:g} s; send text or a keep-alive"
            self._error(InputTimeout.code, reason, None)
            self._contexts.clear()
            self._close(InputTimeout.ws_close, "input timeout")
            return
        for context in list(self._contexts.values()):
            held = context.held_since
            if held is not None and now - held >= self.config.pronunciation_hold_seconds:
                context.held_since = None
                self._enqueue(context, context.buffer.flush())
            if context.context_id in self._lanes:
                context.last_input = now
            elif now - context.last_input >= timeout:
                self._close_context(context.context_id)

    def connection_lost(self) -> None:
        """The socket is gone: cancel whatever is running and forget everything."""
        self._lanes.cancel_all()
        self._contexts.clear()
        self._closed = True

    # -- internals ---------------------------------------------------------------------------

    def _close_context(self, context_id: str) -> None:
        context = self._contexts.pop(context_id, None)
        if context is None:
            return  # unknown or already closed: nothing to do
        self._enqueue(context, context.buffer.flush())
        self._lanes.push_final(context_id)
        self._close_if_drained()

    def _enqueue(self, context: Context, text: str) -> None:
        text = text.strip()
        if not text:
            return
        generation = StartSynthesis(
            context_id=context.context_id,
            generation_id=next(self._generation_ids),
            text=text,
            emotion=context.emotion,
            speed=context.speed,
            language=self.config.language,
            with_alignment=self.config.sync_alignment,
            first_in_context=context.generations == 0,
            lexicon=context.lexicon,
        )
        context.generations += 1
        self._lanes.push(generation)

    def _close_if_drained(self) -> None:
        if self._closing and not self._lanes and not self._closed:
            self._close(NORMAL_CLOSURE, "")

    def _pending_chars(self) -> int:
        """Characters buffered in open contexts or queued for synthesis, not yet running."""
        buffered = sum(len(context.buffer.text) for context in self._contexts.values())
        return buffered + self._lanes.queued_chars

    def _send(self, message: ServerMessage) -> None:
        self._actions.append(Send(message))

    def _error(self, code: str, message: str, context_id: str | None) -> None:
        self._send(ErrorOutput(code, message, context_id))

    def _close(self, code: int, reason: str) -> None:
        self._actions.append(Close(code, reason))
        self._closed = True


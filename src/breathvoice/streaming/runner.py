"""Runs one socket's generations on the shared scheduler and brings their audio back.

:class:`GenerationRunner` executes a session's :class:`~.actions.StartSynthesis` and
:class:`~.actions.CancelSynthesis` for one connection. It looks up the voice state of the
context's emotion (cached for the connection), submits the text to the
:class:`~.scheduler.SynthesisScheduler` under one owner per connection, so connections share
the workers fairly, and encodes each chunk on the worker thread that made it. Results reach
the event loop through ``call_soon_threadsafe``, in order: ``on_frames(generation_id,
frames)`` any number of times, then ``on_done(generation_id, error)`` exactly once (also
for a cancelled generation, whose events the session ignores).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from breathvoice.audio.formats import OutputFormat
from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.errors import BreathVoiceError, EngineError
from breathvoice.streaming.actions import StartSynthesis
from breathvoice.streaming.audio_out import Frame, GenerationAudio
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

FramesCallback = Callable[[int, list[Frame]], None]
DoneCallback = Callable[[int, BaseException | None], None]


class GenerationRunner:
    """The synthesis side of one connection; every method runs on the event loop."""

    def __init__(
        self,
        scheduler: SynthesisScheduler,
        library: VoiceLibrary,
        voice_group_id: str,
        output_format: OutputFormat,
        on_frames: FramesCallback,
        on_done: DoneCallback,
    ) -> None:
        self._scheduler = scheduler
        self._library = library
        self._voice_group_id = voice_group_id
        self._output_format = output_format
        self._on_frames = on_frames
        self._on_done = on_done
        self._loop = asyncio.get_running_loop()
        self._owner = object()
        self._voices: dict[str, VoiceState] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._lookups: dict[int, asyncio.Task[None]] = {}

    async def prepare(self, emotion: str) -> str:
        """Look up an emotion's voice ahead of time (off the loop: it may read the disk).

        Returns how that voice speaks (``stock``, ``matched``, ...). The connection keeps
        the voice it found, so a match that lands later is heard on the next connection.
        """
        choice = await asyncio.to_thread(
            self._library.choose, self._voice_group_id, emotion=emotion
        )
        self._voices.setdefault(emotion, choice.voice_state)
        return choice.voice_method

    def start(self, action: StartSynthesis) -> None:
        voice = self._voices.get(action.emotion)
        if voice is not None:
            self._submit(action, voice)
        else:
            self._lookups[action.generation_id] = self._loop.create_task(self._start_later(action))

    def cancel(self, generation_id: int) -> None:
        token = self._tokens.get(generation_id)
        if token is not None:
            token.cancel()
        lookup = self._lookups.pop(generation_id, None)
        if lookup is not None:
            lookup.cancel()

    def cancel_all(self) -> None:
        for generation_id in [*self._tokens, *self._lookups]:
            self.cancel(generation_id)

    async def _start_later(self, action: StartSynthesis) -> None:
        try:
            await self.prepare(action.emotion)
        except Exception as exc:
            if not isinstance(exc, BreathVoiceError):
                log.exception("looking up the voice for %r failed", action.emotion)
                exc = EngineError("the voice could not be loaded")
            self._on_done(action.generation_id, exc)
            return
        finally:
            self._lookups.pop(action.generation_id, None)
        self._submit(action, self._voices[action.emotion])

    def _submit(self, action: StartSynthesis, voice: VoiceState) -> None:
        generation_id = action.generation_id
        audio = GenerationAudio(self._output_format, self._scheduler.engine.sample_rate)
        token = CancelToken()
        failure: list[BaseException] = []

        def on_chunk(chunk: AudioChunk) -> None:  # on a worker thread
            try:
                frames = audio.frames(chunk)
            except Exception:
                log.exception("encoding %s failed", self._output_format.name)
                failure.append(EngineError("the audio could not be encoded"))
                raise  # the scheduler cancels the job
            if frames:
                self._post(self._on_frames, generation_id, frames)

        def on_done(error: BaseException | None) -> None:  # on a worker thread, or the loop
            tail: list[Frame] = []
            error = error or (failure[0] if failure else None)
            if error is None and not token.cancelled:
                try:
                    tail = audio.finish()
                except Exception:
                    log.exception("finishing %s failed", self._output_format.name)
                    error = EngineError("the audio could not be encoded")
            audio.close()
            self._post(self._finished, generation_id, tail, error)

        options = SynthesisOptions(
            speed=action.speed,
            language=action.language,
            early_first_chunk=action.first_in_context,
            with_alignment=action.with_alignment,
            cancel=token,
            lexicon=action.lexicon,
        )
        self._tokens[generation_id] = token
        try:
            self._scheduler.submit(owner=self._owner, text=action.text, voice=voice,
                                   options=options, on_chunk=on_chunk, on_done=on_done)
        except BreathVoiceError as exc:
            self._tokens.pop(generation_id, None)
            audio.close()
            self._loop.call_soon(self._on_done, generation_id, exc)

    def _finished(self, generation_id: int, tail: list[Frame], error: BaseException | None) -> None:
        self._tokens.pop(generation_id, None)
        if tail:
            self._on_frames(generation_id, tail)
        self._on_done(generation_id, error)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: the server is shutting down and nobody listens


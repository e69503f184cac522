"""Speech over HTTP: text in, encoded audio out while it is being made.

Every HTTP dialect (OpenAI's ``/v1/audio/speech``, ElevenLabs' ``/v1/text-to-speech``)
speaks through this module: :func:`encoded_speech` yields the bytes of one output format,
:func:`timed_speech` yields them with the timing of the characters they speak. The text
runs on the shared :class:`SynthesisScheduler`; each chunk is encoded on the worker thread
that made it, so the event loop only moves bytes. The first chunk is encoded head first,
so the first bytes leave before the whole chunk is encoded.

Wrap a stream in :func:`started` before returning it in a response: errors that happen
before the first audio (an unspeakable text, a full server) then still become an HTTP
error instead of a truncated body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Hashable
from contextlib import aclosing
from dataclasses import replace
from typing import TypeVar

from breathvoice.audio.encoders import StreamEncoder, make_encoder
from breathvoice.audio.formats import OutputFormat
from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError, InvalidRequest, NotFound
from breathvoice.speech_timing import CharTimes, Timeline
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import Choice, VoiceLibrary
from breathvoice.voices.manifest import Manifest

__all__ = [
    "CharTimes",
    "checked_text",
    "choose_voice",
    "encoded_speech",
    "language_hint",
    "split_voice_name",
    "started",
    "timed_speech",
    "voice_groups",
    "voice_names",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


HEAD_SECONDS = 0.2
"""The first chunk's audio encoded (and sent) on its own, before the rest of it."""

EMOTION_SEPARATOR = ":"


def split_voice_name(name: str) -> tuple[str, str | None]:
    """``"Demo"`` is a voice group; ``"Demo:B1_B2"`` is one of its emotions."""
    group, separator, emotion = name.strip().partition(EMOTION_SEPARATOR)
    return group.strip(), (emotion.strip() or None) if separator else None


async def choose_voice(library: VoiceLibrary, name: str) -> Choice:
    """The voice a request names (``group`` or ``group:emotion``), looked up off the loop.

    Raises VoiceGroupNotFound for an unknown group, InvalidRequest for an unknown emotion.
    """
    group, emotion = split_voice_name(name)
    return await asyncio.to_thread(library.choose, group, emotion=emotion)


def voice_groups(library: VoiceLibrary) -> list[Manifest]:
    """The usable voice groups, in name order (reads the disk: call it off the loop)."""
    groups = []
    for voice_group_id in library.list_ids():
        try:
            groups.append(library.manifest(voice_group_id))
        except NotFound:
            continue  # deleted since it was listed
    return groups


def voice_names(group: Manifest) -> list[str]:
    """What a request may name to use ``group``: the group, then each of its emotions."""
    return [group.voice_group_id] + [
        f"{group.voice_group_id}{EMOTION_SEPARATOR}{emotion}"
        for emotion in group.available_emotions
    ]


def checked_text(text: str, max_chars: int) -> str:
    """The text to speak, stripped; refuses empty and overlong texts."""
    text = text.strip()
    if not text:
        raise InvalidRequest("the text must not be empty")
    if len(text) > max_chars:
        raise InvalidRequest(f"the text is {len(text)} characters; the limit is {max_chars}")
    return text


def language_hint(code: str | None) -> str | None:
    """``"zh-CN"`` → ``"zh"``: the primary subtag of a language code, or None."""
    if not code or not code.strip():
        return None
    primary = code.strip().replace("_", "-").split("-")[0].lower()
    if not (2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha()):
        raise InvalidRequest("language_code must be an ISO 639 code such as 'zh' or 'en'")
    return primary


async def encoded_speech(
    scheduler: SynthesisScheduler,
    text: str,
    voice: VoiceState,
    fmt: OutputFormat,
    options: SynthesisOptions,
    owner: Hashable,
) -> AsyncGenerator[bytes, None]:
    """The bytes of ``text`` spoken in ``fmt``, piece by piece as they are encoded.

    Concatenated, the pieces are one valid stream. Leaving the loop early cancels the job.
    """
    async with aclosing(_pieces(scheduler, text, voice, fmt, options, owner)) as pieces:
        async for audio, _ in pieces:
            if audio:
                yield audio


async def timed_speech(
    scheduler: SynthesisScheduler,
    text: str,
    voice: VoiceState,
    fmt: OutputFormat,
    options: SynthesisOptions,
    owner: Hashable,
) -> AsyncGenerator[tuple[bytes, CharTimes], None]:
    """Like :func:`encoded_speech`, each piece with the characters it brings.

    The timing of an engine chunk comes with the first bytes of its audio. Over the whole
    stream every character of ``text`` appears once, in order, timed in seconds from the
    start of the audio. A piece may bring no characters; the last one may bring
    characters but no bytes.
    """
    timeline = Timeline(text)
    pending = CharTimes.empty()
    options = replace(options, with_alignment=True)
    async with aclosing(_pieces(scheduler, text, voice, fmt, options, owner)) as pieces:
        async for audio, chunk in pieces:
            if chunk is not None:
                pending = pending + timeline.place(chunk)
            if audio:
                yield audio, pending
                pending = CharTimes.empty()
    pending = pending + timeline.rest()
    if pending.characters:
        yield b"", pending


async def started(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """``stream`` once its first item is ready; errors until then are raised here."""
    try:
        first = [await anext(stream)]
    except StopAsyncIteration:
        first = []

    async def resumed() -> AsyncGenerator[T, None]:
        async with aclosing(stream):
            for item in first:
                yield item
            async for item in stream:
                yield item

    return resumed()


_Piece = tuple[bytes, AudioChunk | None]
"""Encoded bytes, with the engine chunk whose audio they begin (else None)."""


async def _pieces(
    scheduler: SynthesisScheduler,
    text: str,
    voice: VoiceState,
    fmt: OutputFormat,
    options: SynthesisOptions,
    owner: Hashable,
) -> AsyncGenerator[_Piece, None]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Piece | BaseException | None] = asyncio.Queue()
    token = CancelToken()
    encoder: list[StreamEncoder] = []
    failure: list[BaseException] = []

    def post(item: _Piece | BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            pass  # the loop is closed: the server is shutting down and nobody listens

    def encoder_for(rate: int) -> StreamEncoder:
        if not encoder:
            encoder.append(make_encoder(fmt, rate))
        return encoder[0]

    # Scheduler callbacks run on worker threads, one at a time for a job, so the encoder
    # is never used by two threads at once.
    def on_chunk(chunk: AudioChunk) -> None:
        try:
            first = not encoder
            coder = encoder_for(chunk.sample_rate)
            head = int(HEAD_SECONDS * chunk.sample_rate) if first else 0
            if head:
                post((coder.encode(chunk.samples[:head]), chunk))
            post((coder.encode(chunk.samples[head:]), None if head else chunk))
        except Exception:
            log.exception("encoding %s failed", fmt.name)
            failure.append(EngineError("the audio could not be encoded"))
            raise  # the scheduler cancels the job

    def on_done(error: BaseException | None) -> None:
        error = error or (failure[0] if failure else None)
        try:
            if error is None and not token.cancelled:
                post((encoder_for(scheduler.engine.sample_rate).finish(), None))
        except Exception:
            log.exception("finishing %s failed", fmt.name)
            error = EngineError("the audio could not be encoded")
        finally:
            if encoder:
                encoder[0].close()
        post(error)

    job = scheduler.submit(owner=owner, text=text, voice=voice,
                           options=replace(options, cancel=token),
                           on_chunk=on_chunk, on_done=on_done)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        job.cancel()

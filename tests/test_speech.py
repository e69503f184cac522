"""The one speech layer under the OpenAI and ElevenLabs routes, on a tiny tone engine."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
import soundfile as sf

from breathvoice.audio.formats import parse_elevenlabs_format, parse_openai_format
from breathvoice.engines.base import AudioChunk, CharAlignment, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError, InvalidRequest
from breathvoice.speech import (
    checked_text,
    encoded_speech,
    language_hint,
    split_voice_name,
    started,
    timed_speech,
)
from breathvoice.speech_timing import Timeline
from breathvoice.streaming.scheduler import SynthesisScheduler
from tone_engine import RATE, STEP_SECONDS, ToneEngine

TEXT = "Hello there, how are you?"


@pytest.fixture
def engine() -> ToneEngine:
    return ToneEngine()


@pytest.fixture
def scheduler(engine: ToneEngine) -> Iterator[SynthesisScheduler]:
    scheduler = SynthesisScheduler(engine, workers=1)
    yield scheduler
    scheduler.close()


async def _gather(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [piece async for piece in stream]


def test_wav_pieces_join_into_one_file_of_the_whole_text(scheduler: SynthesisScheduler,
                                                          engine: ToneEngine) -> None:
    pieces = asyncio.run(_gather(encoded_speech(
        scheduler, TEXT, engine.default_voice(), parse_openai_format("wav"),
        SynthesisOptions(), owner="t",
    )))
    assert len(pieces) >= 3  # the head of the first chunk, its rest, the second chunk
    samples, rate = sf.read(io.BytesIO(b"".join(pieces)), dtype="float32")
    assert rate == RATE
    # the tone engine gives every character one step of tone
    assert len(samples) == pytest.approx(len(TEXT) * STEP_SECONDS * RATE, abs=2)
    assert float(np.sqrt(np.mean(samples ** 2))) > 0.05


def test_first_bytes_come_before_the_first_chunk_is_all_encoded(
        scheduler: SynthesisScheduler, engine: ToneEngine) -> None:
    pieces = asyncio.run(_gather(encoded_speech(
        scheduler, TEXT, engine.default_voice(), parse_openai_format("pcm"),
        SynthesisOptions(), owner="t",
    )))
    head_bytes = 2 * int(0.2 * RATE)  # s16le
    assert len(pieces[0]) == head_bytes


def test_speed_and_format_rate_reach_the_audio(scheduler: SynthesisScheduler,
                                               engine: ToneEngine) -> None:
    fmt = parse_elevenlabs_format("pcm_16000")
    normal = b"".join(asyncio.run(_gather(encoded_speech(
        scheduler, "Hi.", engine.default_voice(), fmt, SynthesisOptions(), owner="t"))))
    fast = b"".join(asyncio.run(_gather(encoded_speech(
        scheduler, "Hi.", engine.default_voice(), fmt, SynthesisOptions(speed=2.0), owner="t"))))
    assert len(normal) // 2 == pytest.approx(3 * STEP_SECONDS * 16000, abs=2)
    assert len(fast) == pytest.approx(len(normal) / 2, abs=4)


def test_an_engine_failure_before_any_audio_is_raised_by_started(
        engine: ToneEngine) -> None:
    scheduler = SynthesisScheduler(ToneEngine(fail_on="Boom"), workers=1)

    async def run() -> None:
        await started(encoded_speech(scheduler, "Boom.", engine.default_voice(),
                                     parse_openai_format("mp3"), SynthesisOptions(), owner="t"))

    try:
        with pytest.raises(EngineError, match="told to fail"):
            asyncio.run(run())
    finally:
        scheduler.close()


def test_a_failure_after_the_first_audio_ends_the_stream_with_the_error(
        engine: ToneEngine) -> None:
    scheduler = SynthesisScheduler(ToneEngine(fail_on="Boom"), workers=1)

    async def run() -> list[bytes]:
        received: list[bytes] = []
        stream = await started(encoded_speech(
            scheduler, "Fine, Boom.", engine.default_voice(), parse_openai_format("pcm"),
            SynthesisOptions(), owner="t"))
        with pytest.raises(EngineError):
            async for piece in stream:
                received.append(piece)
        return received

    try:
        assert asyncio.run(run())  # the first clause arrived before the failure
    finally:
        scheduler.close()


class CountingToneEngine(ToneEngine):
    def __init__(self, seconds_per_chunk: float) -> None:
        super().__init__(seconds_per_chunk)
        self.chunks_made = 0

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        for chunk in super().synthesize(text, voice, options):
            self.chunks_made += 1
            yield chunk


def test_leaving_early_cancels_the_rest_of_the_job() -> None:
    engine = CountingToneEngine(seconds_per_chunk=0.02)
    scheduler = SynthesisScheduler(engine, workers=1)
    text = ", ".join(f"clause {n}" for n in range(100)) + "."

    async def run() -> tuple[int, int]:
        stream = encoded_speech(scheduler, text, engine.default_voice(),
                                parse_openai_format("mp3"), SynthesisOptions(), owner="t")
        async for _ in stream:
            break
        await stream.aclose()
        await asyncio.sleep(0.05)  # a chunk being made when we left may still finish
        made = engine.chunks_made
        await asyncio.sleep(0.3)
        return made, engine.chunks_made

    try:
        made_then, made_later = asyncio.run(run())
    finally:
        scheduler.close()
    assert made_then < 10 and made_later == made_then


def test_timestamps_cover_every_character_in_time_order(scheduler: SynthesisScheduler,
                                                        engine: ToneEngine) -> None:
    text = "  Wait!! Then, go."  # the tone engine skips the second '!'

    async def run() -> tuple[bytes, list[str], list[float], list[float]]:
        audio, chars, starts, ends = b"", [], [], []
        async for piece, times in timed_speech(scheduler, text, engine.default_voice(),
                                               parse_openai_format("wav"),
                                               SynthesisOptions(), owner="t"):
            audio += piece
            chars += times.characters
            starts += times.start_seconds
            ends += times.end_seconds
        return audio, chars, starts, ends

    audio, chars, starts, ends = asyncio.run(run())
    assert "".join(chars) == text
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(end >= start for start, end in zip(starts, ends, strict=True))
    seconds = sf.info(io.BytesIO(audio)).duration
    assert ends[-1] == pytest.approx(seconds, abs=0.01)
    skipped = chars.index("!") + 1
    assert starts[skipped] == ends[skipped] == ends[skipped - 1]
    assert starts[chars.index("T")] == pytest.approx(len("  Wait! ") * STEP_SECONDS, abs=0.002)


def test_timeline_spreads_a_chunk_without_timing_over_its_audio() -> None:
    timeline = Timeline("ab cd")
    silent = np.zeros(RATE, np.float32)
    first = timeline.place(AudioChunk(silent, RATE, "ab", None))
    second = timeline.place(AudioChunk(silent, RATE, "cd", CharAlignment(
        ["c", "d"], [100, 600], [500, 400])))
    rest = timeline.rest()
    assert first.start_seconds == (0.0, 0.5) and first.end_seconds == (0.5, 1.0)
    assert second.characters == (" ", "c", "d")
    assert second.start_seconds == (1.0, 1.1, 1.6) and second.end_seconds == (1.0, 1.6, 2.0)
    assert rest.characters == ()


@pytest.mark.parametrize(("name", "expected"), [
    ("Demo", ("Demo", None)), ("Demo:B1_B2", ("Demo", "B1_B2")), (" Demo : greeting ",
                                                                 ("Demo", "greeting")),
    ("Demo:", ("Demo", None)),
])
def test_voice_names_split_into_group_and_emotion(name: str,
                                                  expected: tuple[str, str | None]) -> None:
    assert split_voice_name(name) == expected


def test_text_and_language_checks() -> None:
    assert checked_text("  hi  ", 10) == "hi"
    with pytest.raises(InvalidRequest):
        checked_text("   ", 10)
    with pytest.raises(InvalidRequest, match="limit is 3"):
        checked_text("four", 3)
    assert language_hint("zh-CN") == "zh" and language_hint("en_US") == "en"
    assert language_hint(None) is None and language_hint("") is None
    with pytest.raises(InvalidRequest):
        language_hint("12")

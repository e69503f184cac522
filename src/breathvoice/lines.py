"""Script lines to audio files: the work behind single-tts, batch-tts and ``breathvoice say``.

A line names its voice group and an output file name; the file name picks the emotion
(the group's keyword rules) unless the line names one. The audio is synthesised on the
shared scheduler and stored in the output folder of its voice group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from breathvoice.audio.files import encode_file
from breathvoice.engines.base import SynthesisOptions
from breathvoice.errors import InvalidRequest
from breathvoice.outputs import OutputStore, check_filename
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.pronunciation.store import Locator
from breathvoice.qa.loudness import LoudnessTarget, normalise
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import VoiceLibrary


@dataclass(frozen=True)
class Line:
    text: str
    filename: str
    voice_group_id: str
    emotion: str | None = None
    speed: float = 1.0
    language: str | None = None
    loudness: LoudnessTarget | None = None
    """Deliver the audio at this loudness (normalised, peaks limited)."""
    dictionaries: tuple[Locator, ...] = ()
    """Pronunciation dictionaries to apply before the group's own."""


@dataclass(frozen=True)
class RenderedLine:
    filename: str
    text: str
    emotion: str
    reference_audio: str
    output_path: str
    duration: float
    sample_rate: int
    processing_time: float
    data: bytes
    voice_method: str
    """How the voice state that spoke the line was made: ``stock``, ``matched``, ..."""


class LineRenderer:
    def __init__(
        self,
        library: VoiceLibrary,
        scheduler: SynthesisScheduler,
        outputs: OutputStore,
        max_text_chars: int,
        pronunciation: PronunciationService | None = None,
    ) -> None:
        self.library = library
        self.scheduler = scheduler
        self.outputs = outputs
        self.max_text_chars = max_text_chars
        self.pronunciation = pronunciation

    def check(self, line: Line) -> str:
        """Validate a line before any work; return the text to speak."""
        text = line.text.strip() if isinstance(line.text, str) else ""
        if not text:
            raise InvalidRequest("text must not be empty")
        if len(text) > self.max_text_chars:
            raise InvalidRequest(
                f"text is {len(text)} characters; the limit is {self.max_text_chars}"
            )
        if not 0.5 <= line.speed <= 2.0:
            raise InvalidRequest("speed must be between 0.5 and 2.0")
        check_filename(line.filename)
        return text

    async def render(self, line: Line, owner: Hashable,
                     key_id: str | None = None) -> RenderedLine:
        """Speak ``line`` and store it, in the folder of ``key_id`` (None: the shared one)."""
        started = time.perf_counter()
        text = self.check(line)
        filename = check_filename(line.filename)
        choice = self.library.choose(
            line.voice_group_id, filename=filename, emotion=line.emotion
        )
        lexicon = None
        if self.pronunciation is not None:
            lexicon = await asyncio.to_thread(self.pronunciation.lexicon, line.voice_group_id,
                                              line.dictionaries)
        options = SynthesisOptions(speed=line.speed, language=line.language, lexicon=lexicon)
        chunks = await self.scheduler.collect(owner, text, choice.voice_state, options)
        rate = self.scheduler.engine.sample_rate
        samples = (
            np.concatenate([c.samples for c in chunks]).astype(np.float32)
            if chunks
            else np.zeros(0, np.float32)
        )
        if line.loudness is not None:
            samples = await asyncio.to_thread(normalise, samples, rate, line.loudness)
        data = encode_file(samples, rate, filename)
        output_path = await asyncio.to_thread(
            self.outputs.write, line.voice_group_id, filename, data, key_id)
        return RenderedLine(
            filename=line.filename,
            text=line.text,
            emotion=choice.emotion,
            reference_audio=choice.reference_file,
            output_path=output_path,
            duration=len(samples) / rate,
            sample_rate=rate,
            processing_time=round(time.perf_counter() - started, 3),
            data=data,
            voice_method=choice.voice_method,
        )

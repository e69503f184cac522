"""A speech recogniser for tone-engine takes, where hearing real speech is not the point.

:class:`RecordingTone` remembers which text (at which speed) made audio of each length;
:class:`ToneHearing` "hears" a take by its length, so its checks see the right text, except
where ``mishear(text, speed)`` says to hear other words (a take that should fail). Takes
of one test must differ in length (texts of different lengths), or they are confused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from breathvoice.engines.base import AudioChunk, FloatAudio, SynthesisOptions, VoiceState
from breathvoice.qa.recognise import Transcript
from tone_engine import RATE, ToneEngine

WRONG = "completely unrelated words about the weather in another town"


class RecordingTone(ToneEngine):
    def __init__(self, seconds_per_chunk: float = 0.0, fail_on: str | None = None) -> None:
        super().__init__(seconds_per_chunk, fail_on)
        self.made: dict[int, tuple[str, float]] = {}

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        total = 0
        for chunk in super().synthesize(text, voice, options):
            total += len(chunk.samples)
            yield chunk
        with self.lock:
            self.made[total] = (text, options.speed)


class ToneHearing:
    def __init__(self, engine: RecordingTone,
                 mishear: Callable[[str, float], bool] = lambda text, speed: False) -> None:
        self.engine = engine
        self.mishear = mishear
        self.heard: list[tuple[str, float]] = []
        """Every take heard: its text and speed."""

    def transcribe(self, samples: FloatAudio, sample_rate: int,
                   language: str | None = None) -> Transcript:
        text, speed = self.engine.made.get(len(samples) * RATE // sample_rate, ("", 1.0))
        self.heard.append((text, speed))
        said = WRONG if self.mishear(text, speed) else text
        return Transcript(text=said, language=language or "en",
                          seconds=len(samples) / sample_rate)

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass

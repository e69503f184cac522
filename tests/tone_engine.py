"""A tiny real engine for tests that exercise plumbing, not voices.

It speaks each clause of the text as a tone (one 60 ms step per character, pitch from the
character), honours speed, cancellation (also during a chunk, like an aborted model call) and
alignment, and can be told to sleep per chunk
or fail, so scheduling and streaming can be tested quickly and deterministically.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator

import numpy as np

from breathvoice.engines.base import (
    AudioChunk,
    CharAlignment,
    SynthesisOptions,
    VoiceState,
)
from breathvoice.errors import EngineError

RATE = 24000
STEP_SECONDS = 0.06


class ToneEngine:
    name = "tone"
    sample_rate = RATE

    def __init__(self, seconds_per_chunk: float = 0.0, fail_on: str | None = None) -> None:
        self.seconds_per_chunk = seconds_per_chunk
        self.fail_on = fail_on
        self.calls: list[str] = []
        self.options: list[SynthesisOptions] = []
        self.lock = threading.Lock()

    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        rms = float(np.sqrt(np.mean(np.square(reference)))) if len(reference) else 0.0
        return VoiceState(engine=self.name, arrays={"level": np.array([rms], np.float32)},
                          info={"method": "tone", "duration": len(reference) / sample_rate})

    def default_voice(self) -> VoiceState:
        return VoiceState(engine=self.name, arrays={"level": np.array([0.3], np.float32)},
                          info={"method": "stock", "stock_voice": "tone"})

    def stock_voices(self) -> dict[str, VoiceState]:
        return {"tone": self.default_voice()}

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        with self.lock:
            self.calls.append(text)
            self.options.append(options)
        level = float(voice.arrays["level"][0]) or 0.3
        for piece in re.findall(r"[^,.!?，。！？]+[,.!?，。！？]?", text):
            if options.cancel is not None and options.cancel.cancelled:
                return
            if self.fail_on is not None and self.fail_on in piece:
                raise EngineError("tone engine told to fail")
            if self.seconds_per_chunk and not self._compute(options):
                return  # cancelled while "computing": the chunk is dropped, like Kokoro's
            step = int(RATE * STEP_SECONDS / options.speed)
            t = np.arange(step) / RATE
            tones = [level * np.sin(2 * np.pi * (200 + ord(ch) % 400) * t) for ch in piece]
            samples = np.concatenate(tones).astype(np.float32)
            alignment = None
            if options.with_alignment:
                ms = int(step * 1000 / RATE)
                alignment = CharAlignment(list(piece), [i * ms for i in range(len(piece))],
                                          [ms] * len(piece))
            yield AudioChunk(samples, RATE, piece, alignment)

    def _compute(self, options: SynthesisOptions) -> bool:
        """Spend ``seconds_per_chunk``; False if cancelled meanwhile (an aborted model call)."""
        if options.cancel is None:
            time.sleep(self.seconds_per_chunk)
            return True
        aborted = threading.Event()
        options.cancel.on_cancel(aborted.set)
        try:
            return not aborted.wait(self.seconds_per_chunk)
        finally:
            options.cancel.remove(aborted.set)

def from_settings(settings: object) -> ToneEngine:
    """The plug-in factory of server processes and cluster replicas
    (``BREATHVOICE_ENGINE=tone_engine:from_settings``, with ``tests/`` on ``PYTHONPATH``);
    ``TONE_SECONDS_PER_CHUNK`` makes each chunk take that long."""
    return ToneEngine(float(os.environ.get("TONE_SECONDS_PER_CHUNK", "0")))

"""One generation's audio as the client receives it: encoded, cut into frames, aligned.

Engine chunks are a clause or a sentence long, often several seconds. Each is cut into
frames of about :data:`FRAME_SECONDS` and every frame is encoded on its own, so a client
that plays messages as they arrive gets a steady stream instead of a few big bursts, and
mp3 frames leave the encoder as soon as they are complete.

With alignment on, a frame carries the characters that start in it, timed in ms from the
frame's first sample (ElevenLabs sends alignment per audio message, relative to it). A
codec that holds samples back (mp3) makes a frame's bytes lag its samples a little; the
characters then go with the next bytes that do come out, so none is ever lost.

A :class:`GenerationAudio` serves one generation: the scheduler hands it one engine chunk
at a time, from whichever worker thread runs the job, and :meth:`GenerationAudio.finish`
gives the codec's tail when the generation is over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from breathvoice.audio.encoders import StreamEncoder, make_encoder
from breathvoice.audio.formats import OutputFormat
from breathvoice.engines.base import AudioChunk, FloatAudio
from multi_ws_tts_sdk.protocol import Alignment

FRAME_SECONDS = 0.25
"""Audio per message: small enough to stream evenly, large enough to keep overhead low."""


@dataclass(frozen=True)
class Frame:
    """One audio message: encoded bytes and the alignment of the characters starting in it."""

    audio: bytes
    alignment: Alignment | None = None


@dataclass(frozen=True)
class _PendingChar:
    char: str
    start_ms: float
    """From the start of the generation."""
    duration_ms: int


class GenerationAudio:
    """Encoder, framing and alignment bookkeeping of one generation."""

    def __init__(
        self, output_format: OutputFormat, source_rate: int, frame_seconds: float = FRAME_SECONDS
    ) -> None:
        self.output_format = output_format
        self._source_rate = source_rate
        self._frame_samples = max(1, round(frame_seconds * source_rate))
        self._encoder: StreamEncoder | None = None
        self._fed_ms = 0.0
        """Audio handed to the encoder so far."""
        self._sent_ms = 0.0
        """Where the audio of the next frame starts."""
        self._pending: list[_PendingChar] = []
        self._lock = threading.Lock()
        self._done = False

    def frames(self, chunk: AudioChunk) -> list[Frame]:
        """The frames to send for the next engine chunk (possibly none yet, for mp3)."""
        if chunk.sample_rate != self._source_rate:
            raise ValueError(f"chunk at {chunk.sample_rate} Hz, expected {self._source_rate}")
        with self._lock:
            encoder = self._open_encoder()
            if chunk.alignment is not None:
                alignment = chunk.alignment
                self._pending += [
                    _PendingChar(char, self._fed_ms + start, duration)
                    for char, start, duration in zip(
                        alignment.chars, alignment.char_start_times_ms,
                        alignment.char_durations_ms, strict=True,
                    )
                ]
            frames: list[Frame] = []
            for piece in _pieces(chunk.samples, self._frame_samples):
                self._fed_ms += len(piece) * 1000 / self._source_rate
                frames += self._frame(encoder.encode(piece), self._fed_ms)
            return frames

    def finish(self) -> list[Frame]:
        """The last frames: what the codec still held (the generation ended normally)."""
        with self._lock:
            if self._done:
                return []
            encoder = self._open_encoder()
            self._done = True
            return self._frame(encoder.finish(), float("inf"))

    def close(self) -> None:
        """Drop whatever is left (the generation was cancelled or failed)."""
        with self._lock:
            self._done = True
            if self._encoder is not None:
                self._encoder.close()

    def _open_encoder(self) -> StreamEncoder:
        if self._done:
            raise RuntimeError("the generation's audio is already finished")
        if self._encoder is None:
            # Built on first use, on the worker thread: a codec takes a few ms to open.
            self._encoder = make_encoder(self.output_format, self._source_rate)
        return self._encoder

    def _frame(self, audio: bytes, until_ms: float) -> list[Frame]:
        """Frame ``audio``, which ends at ``until_ms``, with the characters starting before."""
        if not audio:
            return []
        count = 0
        while count < len(self._pending) and self._pending[count].start_ms < until_ms:
            count += 1
        taken, self._pending = self._pending[:count], self._pending[count:]
        alignment = None
        if taken:
            alignment = Alignment(
                chars=tuple(c.char for c in taken),
                char_start_times_ms=tuple(
                    max(0, round(c.start_ms - self._sent_ms)) for c in taken
                ),
                char_durations_ms=tuple(c.duration_ms for c in taken),
            )
        self._sent_ms = min(until_ms, self._fed_ms)
        return [Frame(audio, alignment)]


def _pieces(samples: FloatAudio, frame_samples: int) -> list[FloatAudio]:
    """``samples`` in nearly equal pieces of about ``frame_samples`` each."""
    count = max(1, round(len(samples) / frame_samples))
    return [piece for piece in np.array_split(samples, count) if len(piece)]

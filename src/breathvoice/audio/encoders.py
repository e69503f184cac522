"""Streaming encoders: float32 chunks at the engine rate in, bytes of a format out.

``make_encoder(fmt, source_rate)`` returns a :class:`StreamEncoder`. Feed it chunks with
``encode()`` as they are synthesised and send whatever bytes come back; call ``finish()``
once at the end for the tail. Concatenating every returned piece gives a valid stream.
An encoder that is abandoned (the client went away) should be ``close()``d.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy.typing as npt

from breathvoice.audio.compressed import ContainerEncoder
from breathvoice.audio.formats import OutputFormat
from breathvoice.audio.pcm import alaw_encode, float_to_pcm16, float_to_pcm16_bytes, ulaw_encode
from breathvoice.audio.resample import StreamResampler, as_mono_float32
from breathvoice.audio.wav import wav_header
from breathvoice.engines.base import FloatAudio


@runtime_checkable
class StreamEncoder(Protocol):
    """Turns a stream of float32 chunks into the bytes of one output format."""

    output_format: OutputFormat

    def encode(self, samples: FloatAudio) -> bytes:
        """Encode the next chunk; may return b"" while the codec buffers."""
        ...

    def finish(self) -> bytes:
        """The remaining bytes; the encoder cannot be used afterwards."""
        ...

    def close(self) -> None:
        """Drop the stream without finishing it; safe to call more than once."""
        ...


def _ulaw_bytes(samples: FloatAudio) -> bytes:
    return ulaw_encode(float_to_pcm16(samples)).tobytes()


def _alaw_bytes(samples: FloatAudio) -> bytes:
    return alaw_encode(float_to_pcm16(samples)).tobytes()


_SAMPLE_CODINGS: dict[str, Callable[[FloatAudio], bytes]] = {
    "pcm": float_to_pcm16_bytes,
    "wav": float_to_pcm16_bytes,
    "ulaw": _ulaw_bytes,
    "alaw": _alaw_bytes,
}


class SampleEncoder:
    """Raw PCM s16le, G.711 mu-law / A-law, or a WAV stream (header, then s16le)."""

    def __init__(self, output_format: OutputFormat, source_rate: int) -> None:
        if output_format.codec not in _SAMPLE_CODINGS:
            raise ValueError(f"{output_format.codec} is not a sample coding")
        self.output_format = output_format
        self._code = _SAMPLE_CODINGS[output_format.codec]
        self._resampler = StreamResampler(source_rate, output_format.sample_rate)
        self._header = b""
        if output_format.codec == "wav":
            self._header = wav_header(output_format.sample_rate, data_size=None)
        self._finished = False

    def encode(self, samples: FloatAudio) -> bytes:
        if self._finished:
            raise RuntimeError("encoder already finished")
        return self._take_header() + self._code(self._resampler.process(samples))

    def finish(self) -> bytes:
        if self._finished:
            raise RuntimeError("encoder already finished")
        self._finished = True
        # An empty stream still yields a WAV header, so the client gets a valid file.
        return self._take_header() + self._code(self._resampler.flush())

    def close(self) -> None:
        self._finished = True

    def _take_header(self) -> bytes:
        header, self._header = self._header, b""
        return header


def make_encoder(output_format: OutputFormat, source_rate: int) -> StreamEncoder:
    """A fresh encoder producing ``output_format`` from audio at ``source_rate``."""
    if output_format.is_compressed:
        return ContainerEncoder(output_format, source_rate)
    return SampleEncoder(output_format, source_rate)


def encode_all(
    output_format: OutputFormat, samples: npt.ArrayLike, source_rate: int
) -> bytes:
    """Encode a whole clip in one go (REST responses that are not streamed)."""
    encoder = make_encoder(output_format, source_rate)
    try:
        return encoder.encode(as_mono_float32(samples)) + encoder.finish()
    finally:
        encoder.close()

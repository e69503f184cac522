"""Streaming mp3, Ogg Opus, AAC (ADTS) and FLAC through PyAV.

Each encoder owns an output container writing into an in-memory sink that is drained after
every call, so bytes leave as soon as the codec emits packets rather than at the end. The
sink has no ``seek``: muxers then write a pure stream (no header rewrite at the end), which
is what a client reading chunk by chunk needs.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from breathvoice.audio.formats import OutputFormat
from breathvoice.audio.resample import StreamResampler
from breathvoice.engines.base import FloatAudio

# codec -> (PyAV encoder, muxer, muxer options)
_CONTAINERS: dict[str, tuple[str, str, dict[str, str]]] = {
    # No ID3 tag or Xing frame: the stream is bare MPEG frames, as ElevenLabs sends.
    "mp3": ("libmp3lame", "mp3", {"id3v2_version": "0", "write_xing": "0"}),
    # Ogg pages of at most 100 ms keep the first bytes early at ~4% overhead.
    "opus": ("libopus", "ogg", {"page_duration": "100000"}),
    "aac": ("aac", "adts", {}),
    "flac": ("flac", "flac", {}),
}


class _ByteSink:
    """A write-only file for the muxer; collects bytes until drained."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class ContainerEncoder:
    """Encode float32 chunks into a compressed format, returning bytes as they are ready."""

    def __init__(self, output_format: OutputFormat, source_rate: int) -> None:
        if output_format.codec not in _CONTAINERS:
            raise ValueError(f"{output_format.codec} is not a container codec")
        codec_name, muxer, muxer_options = _CONTAINERS[output_format.codec]
        self.output_format = output_format
        self._rate = output_format.sample_rate
        self._resampler = StreamResampler(source_rate, self._rate)
        self._sink = _ByteSink()
        self._container = av.open(
            self._sink,
            mode="w",
            format=muxer,
            container_options={"flush_packets": "1", **muxer_options},
        )
        try:
            stream = self._container.add_stream(codec_name, rate=self._rate, layout="mono")
            if not isinstance(stream, av.AudioStream):
                raise TypeError(f"{codec_name} is not an audio codec")
            self._stream = stream
            if output_format.bitrate is not None:
                self._stream.bit_rate = output_format.bitrate
        except BaseException:
            self._container.close()
            raise
        self._time_base = Fraction(1, self._rate)
        self._next_pts = 0
        self._closed = False

    def encode(self, samples: FloatAudio) -> bytes:
        """Encode the next chunk; returns whatever the codec has finished so far."""
        self._ensure_open()
        self._write(self._resampler.process(samples))
        return self._sink.drain()

    def finish(self) -> bytes:
        """Flush the codec and the container; returns the last bytes. Closes the encoder."""
        self._ensure_open()
        try:
            self._write(self._resampler.flush())
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self.close()
        return self._sink.drain()

    def close(self) -> None:
        """Release the codec without producing more bytes; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._container.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise RuntimeError("encoder already finished")

    def _write(self, samples: FloatAudio) -> None:
        if len(samples) == 0:
            return  # PyAV refuses empty frames
        clipped = np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(clipped.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self._rate
        frame.time_base = self._time_base
        frame.pts = self._next_pts
        self._next_pts += len(clipped)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

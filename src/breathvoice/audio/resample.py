"""Sample-rate conversion with soxr, one-shot or chunk by chunk.

:class:`StreamResampler` keeps the filter state between chunks, so resampling audio in
pieces gives the same samples as resampling it whole: no clicks where chunks meet. Call
:meth:`StreamResampler.flush` once at the end to get the samples still held back by the
filter's delay.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from breathvoice.engines.base import FloatAudio

_QUALITY = "HQ"


def as_mono_float32(samples: npt.ArrayLike) -> FloatAudio:
    """``samples`` as a contiguous 1-D float32 array (2-D input is averaged to mono)."""
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 2:
        # soundfile-style (frames, channels) layout.
        array = array.mean(axis=1, dtype=np.float32)
    elif array.ndim != 1:
        raise ValueError(f"expected mono audio, got an array of shape {array.shape}")
    return np.ascontiguousarray(array)


def resample(samples: npt.ArrayLike, source_rate: int, target_rate: int) -> FloatAudio:
    """Resample a whole clip from ``source_rate`` to ``target_rate``."""
    audio = as_mono_float32(samples)
    _check_rate(source_rate)
    _check_rate(target_rate)
    if source_rate == target_rate or len(audio) == 0:
        return audio
    out: FloatAudio = soxr.resample(audio, source_rate, target_rate, quality=_QUALITY)
    return np.ascontiguousarray(out, dtype=np.float32)


class StreamResampler:
    """Resample audio arriving in chunks; a passthrough when the rates match."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        _check_rate(source_rate)
        _check_rate(target_rate)
        self.source_rate = source_rate
        self.target_rate = target_rate
        self._stream: soxr.ResampleStream | None = None
        if source_rate != target_rate:
            self._stream = soxr.ResampleStream(
                source_rate, target_rate, 1, dtype="float32", quality=_QUALITY
            )
        self._flushed = False

    @property
    def is_passthrough(self) -> bool:
        return self._stream is None

    def process(self, samples: npt.ArrayLike) -> FloatAudio:
        """Resample the next chunk; may return fewer samples while the filter fills."""
        if self._flushed:
            raise RuntimeError("resampler already flushed")
        audio = as_mono_float32(samples)
        if self._stream is None or len(audio) == 0:
            return audio
        return self._convert(audio, last=False)

    def flush(self) -> FloatAudio:
        """The samples still inside the filter; call once after the last chunk."""
        if self._flushed:
            return np.zeros(0, dtype=np.float32)
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._convert(np.zeros(0, dtype=np.float32), last=True)

    def _convert(self, audio: FloatAudio, *, last: bool) -> FloatAudio:
        assert self._stream is not None
        out = self._stream.resample_chunk(audio, last=last)
        return np.ascontiguousarray(out, dtype=np.float32).reshape(-1)


def _check_rate(rate: int) -> None:
    # Anything outside this range is a bug upstream, not a user's choice.
    if not 1000 <= rate <= 384_000:
        raise ValueError(f"sample rate out of range: {rate}")

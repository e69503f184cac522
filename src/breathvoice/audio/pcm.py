"""Sample codings: float32 <-> 16-bit PCM, and G.711 mu-law / A-law.

G.711 follows ITU-T G.711 as implemented by the reference ``g711.c`` (Sun Microsystems,
also behind Python's former ``audioop``): mu-law works on the top 14 bits of a 16-bit
sample, A-law on the top 13. Encoding is a lookup in a 65536-entry table built once with
vectorised numpy; decoding is a 256-entry table.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from breathvoice.engines.base import FloatAudio

Pcm16 = npt.NDArray[np.int16]
G711Bytes = npt.NDArray[np.uint8]

_PCM16_SCALE = 32767.0
_PCM16_INVERSE_SCALE = 1.0 / 32768.0

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias pushes it past segment 7


def float_to_pcm16(samples: FloatAudio) -> Pcm16:
    """Float samples in [-1, 1] to int16: clipped, scaled by 32767 and rounded."""
    clean = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0)
    scaled = np.clip(clean, -1.0, 1.0) * _PCM16_SCALE
    pcm: Pcm16 = np.rint(scaled).astype(np.int16)
    return pcm


def pcm16_to_float(pcm: Pcm16) -> FloatAudio:
    """int16 samples to float32 in [-1, 1)."""
    return np.asarray(pcm, dtype=np.int16).astype(np.float32) * np.float32(_PCM16_INVERSE_SCALE)


def float_to_pcm16_bytes(samples: FloatAudio) -> bytes:
    """Float samples as raw little-endian signed 16-bit PCM."""
    return float_to_pcm16(samples).astype("<i2", copy=False).tobytes()


def ulaw_encode(pcm: Pcm16) -> G711Bytes:
    """16-bit samples to G.711 mu-law bytes."""
    return _ulaw_encode_table()[np.asarray(pcm, dtype=np.int16).view(np.uint16)]


def alaw_encode(pcm: Pcm16) -> G711Bytes:
    """16-bit samples to G.711 A-law bytes."""
    return _alaw_encode_table()[np.asarray(pcm, dtype=np.int16).view(np.uint16)]


def ulaw_decode(coded: G711Bytes) -> Pcm16:
    """G.711 mu-law bytes to 16-bit samples."""
    return _ulaw_decode_table()[np.asarray(coded, dtype=np.uint8)]


def alaw_decode(coded: G711Bytes) -> Pcm16:
    """G.711 A-law bytes to 16-bit samples."""
    return _alaw_decode_table()[np.asarray(coded, dtype=np.uint8)]


def _all_int16_in_uint16_order() -> npt.NDArray[np.int32]:
    # Index i of the encode tables is the int16 whose bit pattern is i.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _bit_length(values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    _, exponent = np.frexp(values.astype(np.float64))
    return exponent.astype(np.int32)


@cache
def _ulaw_encode_table() -> G711Bytes:
    sample = _all_int16_in_uint16_order() >> 2
    mask = np.where(sample < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(sample), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    # Segment 0 holds biased magnitudes up to 0x3F (6 bits), each next one doubles.
    segment = np.clip(_bit_length(magnitude) - 6, 0, 8)
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    coded = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    return (coded ^ mask).astype(np.uint8)


@cache
def _alaw_encode_table() -> G711Bytes:
    sample = _all_int16_in_uint16_order() >> 3
    negative = sample < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -sample - 1, sample)
    # Segment 0 holds magnitudes up to 0x1F (5 bits), each next one doubles.
    segment = np.clip(_bit_length(magnitude) - 5, 0, 8)
    shift = np.maximum(segment, 1)
    mantissa = (magnitude >> shift) & 0x0F
    coded = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    return (coded ^ mask).astype(np.uint8)


@cache
def _ulaw_decode_table() -> Pcm16:
    inverted = ~np.arange(256, dtype=np.int32) & 0xFF
    segment = (inverted & 0x70) >> 4
    magnitude = (((inverted & 0x0F) << 3) + _ULAW_BIAS) << segment
    linear = np.where(inverted & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)
    return linear.astype(np.int16)


@cache
def _alaw_decode_table() -> Pcm16:
    toggled = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (toggled & 0x70) >> 4
    mantissa = (toggled & 0x0F) << 4
    magnitude = np.where(
        segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0)
    )
    linear = np.where(toggled & 0x80, magnitude, -magnitude)
    return linear.astype(np.int16)

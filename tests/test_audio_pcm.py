"""16-bit PCM and G.711: bit-exact against the standard's algorithm, bounded round-trip error."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

from breathvoice.audio.pcm import (
    G711Bytes,
    Pcm16,
    alaw_decode,
    alaw_encode,
    float_to_pcm16,
    float_to_pcm16_bytes,
    pcm16_to_float,
    ulaw_decode,
    ulaw_encode,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


# Scalar references written from ITU-T G.711 (segment/mantissa form, as in the reference
# g711.c): mu-law takes the top 14 bits of the sample, A-law the top 13.
def reference_ulaw(sample: int) -> int:
    value = sample >> 2
    sign_mask = 0x7F if value < 0 else 0xFF
    biased = min(abs(value), 8159) + 33
    for segment, segment_end in enumerate((0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)):
        if biased <= segment_end:
            return ((segment << 4) | ((biased >> (segment + 1)) & 0x0F)) ^ sign_mask
    return 0x7F ^ sign_mask


def reference_alaw(sample: int) -> int:
    value = sample >> 3
    if value >= 0:
        sign_mask = 0xD5
    else:
        sign_mask, value = 0x55, -value - 1
    for segment, segment_end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)):
        if value <= segment_end:
            shift = 1 if segment < 2 else segment
            return ((segment << 4) | ((value >> shift) & 0x0F)) ^ sign_mask
    return 0x7F ^ sign_mask


def reference_ulaw_decode(code: int) -> int:
    inverted = ~code & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + 0x84) << ((inverted & 0x70) >> 4)
    return 0x84 - magnitude if inverted & 0x80 else magnitude - 0x84


def reference_alaw_decode(code: int) -> int:
    toggled = code ^ 0x55
    segment = (toggled & 0x70) >> 4
    magnitude = (toggled & 0x0F) << 4
    magnitude = magnitude + 8 if segment == 0 else (magnitude + 0x108) << (segment - 1)
    return magnitude if toggled & 0x80 else -magnitude


def test_ulaw_encoding_is_bit_exact_for_every_16_bit_sample() -> None:
    expected = np.array([reference_ulaw(int(s)) for s in ALL_INT16], dtype=np.uint8)
    np.testing.assert_array_equal(ulaw_encode(ALL_INT16), expected)


def test_alaw_encoding_is_bit_exact_for_every_16_bit_sample() -> None:
    expected = np.array([reference_alaw(int(s)) for s in ALL_INT16], dtype=np.uint8)
    np.testing.assert_array_equal(alaw_encode(ALL_INT16), expected)


def test_g711_decoding_tables_are_bit_exact() -> None:
    np.testing.assert_array_equal(
        ulaw_decode(ALL_CODES), [reference_ulaw_decode(int(c)) for c in ALL_CODES]
    )
    np.testing.assert_array_equal(
        alaw_decode(ALL_CODES), [reference_alaw_decode(int(c)) for c in ALL_CODES]
    )


def test_well_known_g711_code_points() -> None:
    extremes = np.array([0, 32767, -32768], dtype=np.int16)
    assert ulaw_encode(extremes).tolist() == [0xFF, 0x80, 0x00]
    assert alaw_encode(extremes).tolist() == [0xD5, 0xAA, 0x2A]
    assert ulaw_decode(np.array([0xFF, 0x80, 0x00], dtype=np.uint8)).tolist() == [
        0, 32124, -32124,
    ]
    assert alaw_decode(np.array([0xD5, 0xAA, 0x2A], dtype=np.uint8)).tolist() == [
        8, 32256, -32256,
    ]


def test_g711_matches_pythons_audioop_where_it_still_exists() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    raw = ALL_INT16.astype("<i2").tobytes()
    assert ulaw_encode(ALL_INT16).tobytes() == audioop.lin2ulaw(raw, 2)
    assert alaw_encode(ALL_INT16).tobytes() == audioop.lin2alaw(raw, 2)
    assert ulaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(bytes(range(256)), 2)
    assert alaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(bytes(range(256)), 2)


@pytest.mark.parametrize(("encode", "decode"), [(ulaw_encode, ulaw_decode),
                                                (alaw_encode, alaw_decode)])
def test_g711_round_trip_error_is_within_half_a_quantisation_step(
    encode: Callable[[Pcm16], G711Bytes], decode: Callable[[G711Bytes], Pcm16]
) -> None:
    # 4 mantissa bits: the error is at most 1/32 of the magnitude plus the finest step.
    restored = decode(encode(ALL_INT16)).astype(np.int32)
    error = np.abs(restored - ALL_INT16.astype(np.int32))
    assert (error <= np.abs(ALL_INT16.astype(np.int32)) / 32 + 8).all()


def test_g711_keeps_speech_band_tone_clean() -> None:
    t = np.arange(8000) / 8000
    tone = float_to_pcm16((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        restored = decode(encode(tone)).astype(np.float64)
        noise = restored - tone
        snr_db = 10 * np.log10(np.mean(tone.astype(np.float64) ** 2) / np.mean(noise**2))
        assert snr_db > 30


def test_float_to_pcm16_clips_rounds_and_ignores_nan() -> None:
    samples = np.array([1.5, -1.5, 1.0, -1.0, 0.0, np.nan, 100.4 / 32767, 100.6 / 32767],
                       dtype=np.float32)
    assert float_to_pcm16(samples).tolist() == [32767, -32767, 32767, -32767, 0, 0, 100, 101]


def test_pcm16_bytes_are_little_endian() -> None:
    assert float_to_pcm16_bytes(np.array([1.0, -1.0], dtype=np.float32)) == b"\xff\x7f\x01\x80"


def test_pcm16_to_float_inverts_within_one_step() -> None:
    samples = np.linspace(-1, 1, 1001, dtype=np.float32)
    restored = pcm16_to_float(float_to_pcm16(samples))
    assert restored.dtype == np.float32
    assert np.abs(restored - samples).max() <= 2 / 32768

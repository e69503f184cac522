"""Streaming resampling: chunk by chunk gives the one-shot result, with no clicks at joins."""

from __future__ import annotations

import numpy as np
import pytest

from breathvoice.audio import StreamResampler, resample

SOURCE_RATE = 24000
UNEVEN_SPLITS = [1000, 1013, 7000, 15000, 20001]


def tone(seconds: float = 1.2, rate: int = SOURCE_RATE, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def resample_in_chunks(samples: np.ndarray, target_rate: int) -> np.ndarray:
    resampler = StreamResampler(SOURCE_RATE, target_rate)
    pieces = [resampler.process(chunk) for chunk in np.split(samples, UNEVEN_SPLITS)]
    pieces.append(resampler.flush())
    return np.concatenate(pieces)


@pytest.mark.parametrize("target_rate", [8000, 16000, 22050, 44100, 48000])
def test_chunked_output_equals_one_shot(target_rate: int) -> None:
    samples = tone()
    chunked = resample_in_chunks(samples, target_rate)
    whole = resample(samples, SOURCE_RATE, target_rate)
    assert abs(len(chunked) - len(samples) * target_rate / SOURCE_RATE) <= 2
    assert len(chunked) == len(whole)
    assert np.abs(chunked - whole).max() < 1e-4
    assert chunked.dtype == np.float32


@pytest.mark.parametrize("target_rate", [8000, 22050, 44100])
def test_no_click_where_chunks_meet(target_rate: int) -> None:
    chunked = resample_in_chunks(tone(), target_rate)
    # Skip the filter's ramp-in/out at the very ends; a click is a jump no 440 Hz sine at
    # amplitude 0.5 can make between neighbouring samples.
    interior = chunked[200:-200]
    steepest_sine_step = 0.5 * 2 * np.pi * 440 / target_rate
    assert np.abs(np.diff(interior)).max() <= steepest_sine_step * 1.05


def test_same_rate_is_a_passthrough() -> None:
    samples = tone()
    resampler = StreamResampler(SOURCE_RATE, SOURCE_RATE)
    assert resampler.is_passthrough
    out = np.concatenate([resampler.process(c) for c in np.split(samples, UNEVEN_SPLITS)])
    np.testing.assert_array_equal(out, samples)
    assert len(resampler.flush()) == 0
    np.testing.assert_array_equal(resample(samples, SOURCE_RATE, SOURCE_RATE), samples)


def test_resampled_tone_keeps_its_pitch() -> None:
    out = resample(tone(), SOURCE_RATE, 16000)
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * 16000 / len(out)
    assert abs(peak_hz - 440) < 2


def test_empty_chunks_are_harmless() -> None:
    resampler = StreamResampler(SOURCE_RATE, 8000)
    assert len(resampler.process(np.zeros(0, dtype=np.float32))) == 0
    out = np.concatenate([resampler.process(tone(0.5)), resampler.flush()])
    assert abs(len(out) - 4000) <= 1


def test_resampler_refuses_audio_after_flush() -> None:
    resampler = StreamResampler(SOURCE_RATE, 8000)
    resampler.flush()
    with pytest.raises(RuntimeError):
        resampler.process(tone(0.1))
    assert len(resampler.flush()) == 0


def test_stereo_input_is_averaged_to_mono() -> None:
    left = tone(0.2)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    np.testing.assert_allclose(resample(stereo, SOURCE_RATE, SOURCE_RATE), left / 2)


@pytest.mark.parametrize("rate", [0, -8000, 10_000_000])
def test_nonsense_rates_are_refused(rate: int) -> None:
    with pytest.raises(ValueError):
        StreamResampler(SOURCE_RATE, rate)

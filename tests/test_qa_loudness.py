"""Loudness against reference signals, and delivery loudness checked by another meter.

``pyebur128`` (libebur128) is the independent meter: it shares no code with the
pyloudnorm meter and oversampling true-peak estimate the service uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from audio_checks import reference_meter
from breathvoice.errors import InvalidRequest
from breathvoice.qa.loudness import PRESETS, LoudnessTarget, measure, normalise
from qa_signals import silence, sine, syllables


@pytest.mark.parametrize("level_db", [0.0, -20.0])
def test_a_1khz_sine_measures_its_bs1770_loudness(level_db: float) -> None:
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS (K-weighting is ~0 dB
    # at 1 kHz, and a sine's mean square is half its peak's)
    measured = measure(sine(3.0, 1000, level_db, 48000), 48000)
    assert measured.integrated_lufs == pytest.approx(level_db - 3.01, abs=0.5)
    assert measured.sample_peak_db == pytest.approx(level_db, abs=0.01)
    assert measured.true_peak_db == pytest.approx(level_db, abs=0.1)


def test_the_true_peak_is_found_between_samples() -> None:
    # a quarter of the sample rate at 45°: every sample is at 0.707, the wave peaks at 1.0
    take = sine(1.0, 12000, 0.0, 48000, phase=np.pi / 4)
    measured = measure(take, 48000)
    assert measured.sample_peak_db == pytest.approx(-3.01, abs=0.05)
    assert measured.true_peak_db == pytest.approx(0.0, abs=0.3)


def test_silence_and_short_audio_have_no_loudness() -> None:
    assert measure(silence(2.0), 24000).integrated_lufs is None
    assert measure(sine(0.2, 1000, -10, 24000), 24000).integrated_lufs is None


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("start_db", [-40.0, -6.0])
def test_presets_reach_their_target_under_the_ceiling(preset: str, start_db: float) -> None:
    target = PRESETS[preset]
    out = normalise(syllables(4.0, level_db=start_db), 24000, target)
    loudness, peak = reference_meter(out, 24000)
    assert loudness == pytest.approx(target.target_lufs, abs=1.0)
    assert peak <= target.true_peak_db + 0.05
    assert np.max(np.abs(out)) < 1.0


def test_the_limiter_holds_peaks_without_clipping() -> None:
    # a take with sharp peaks far above its loudness: -10 LUFS needs heavy limiting
    take = syllables(4.0, level_db=-30)
    burst = sine(0.005, 2000, -6.0, 24000)
    for start in range(0, len(take) - len(burst), 2400):
        take[start:start + len(burst)] += burst
    target = LoudnessTarget(target_lufs=-12.0, true_peak_db=-1.0)
    out = normalise(take, 24000, target)
    loudness, peak = reference_meter(out, 24000)
    assert loudness == pytest.approx(-12.0, abs=1.0)
    assert peak <= -1.0 + 0.05
    # limited, not clipped: the peaks keep their shape, none is flattened at the ceiling
    top = np.abs(out) >= 0.95 * np.max(np.abs(out))
    assert top.any()
    assert not np.any(top[1:] & (out[1:] == out[:-1]))


def test_silence_is_left_silent() -> None:
    assert not normalise(silence(2.0), 24000, PRESETS["podcast"]).any()


@pytest.mark.parametrize(("lufs", "peak"), [(0.0, -1.0), (-60.0, -1.0), (-16.0, 3.0)])
def test_impossible_targets_are_refused(lufs: float, peak: float) -> None:
    with pytest.raises(InvalidRequest, match="loudness"):
        LoudnessTarget(target_lufs=lufs, true_peak_db=peak)

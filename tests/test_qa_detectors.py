"""Each audio fault detector on synthetic takes: clipped, paused, padded, jumping, silent."""

from __future__ import annotations

import numpy as np
import pytest

from breathvoice.qa.detectors import FAIL, WARN, Fault, find_faults, speech_span
from qa_signals import RATE, silence, sine, syllables

# 3 s of English speech is about 45 characters of text (SECONDS_PER_UNIT)
EN_UNITS_PER_3S = 45


def faults_of(samples: np.ndarray, units: int = EN_UNITS_PER_3S,
              language: str = "en") -> dict[str, Fault]:
    found = find_faults(samples, RATE, units, language)
    by_kind = {fault.kind: fault for fault in found}
    assert len(by_kind) == len(found), found
    return by_kind


def test_a_clean_take_has_no_faults() -> None:
    take = np.concatenate([silence(0.2), syllables(3.0), silence(0.3)])
    assert faults_of(take) == {}


def test_a_clean_take_with_a_noise_floor_has_no_faults() -> None:
    take = np.concatenate([syllables(1.5), silence(0.5), syllables(1.5, seed=2)])
    take = take + silence(len(take) / RATE, noise_db=-72)
    assert faults_of(take) == {}


def test_a_clipped_sine_fails_and_says_where() -> None:
    clipped = np.clip(sine(3.0, 220, 6.0, RATE), -1.0, 1.0)  # 6 dB over full scale
    fault = faults_of(clipped)["clipping"]
    assert fault.severity == FAIL
    assert "full scale" in fault.message
    assert fault.at_seconds is not None and fault.at_seconds < 0.01


def test_a_few_clipped_samples_are_a_warning() -> None:
    take = syllables(3.0)
    take[RATE: RATE + 5] = 1.0
    fault = faults_of(take)["clipping"]
    assert fault.severity == WARN
    assert fault.at_seconds == pytest.approx(1.0, abs=0.001)


def test_one_sample_touching_full_scale_is_not_clipping() -> None:
    take = syllables(3.0, level_db=-1.0)
    take[1000] = 1.0
    assert "clipping" not in faults_of(take)


def test_inserted_silence_is_a_pause_at_its_place() -> None:
    take = np.concatenate([syllables(1.5), silence(2.0), syllables(1.5, seed=3)])
    fault = faults_of(take)["pause"]
    assert fault.severity == WARN
    assert fault.at_seconds == pytest.approx(1.45, abs=0.1)
    assert "2.0 s" in fault.message or "2.1 s" in fault.message


def test_a_short_pause_is_no_fault() -> None:
    take = np.concatenate([syllables(1.5), silence(0.6), syllables(1.5, seed=3)])
    assert "pause" not in faults_of(take)


def test_leading_and_trailing_silence() -> None:
    take = np.concatenate([silence(1.6), syllables(3.0), silence(2.2)])
    faults = faults_of(take)
    assert "1.6 s" in faults["leading_silence"].message
    assert faults["trailing_silence"].message.startswith("2.2 s")
    assert speech_span(take, RATE) == pytest.approx((1.6, 4.6), abs=0.05)


def test_a_level_jump_up_and_down() -> None:
    up = np.concatenate([syllables(2.0, level_db=-34), syllables(2.0, level_db=-12, seed=4)])
    fault = faults_of(up, units=60)["level_jump"]
    assert "up by 2" in fault.message  # by about 22 dB
    assert fault.at_seconds == pytest.approx(2.0, abs=0.3)
    down = np.concatenate([syllables(2.0, level_db=-10), syllables(2.0, level_db=-28, seed=4)])
    assert "down by" in faults_of(down, units=60)["level_jump"].message


def test_a_small_level_change_is_no_jump() -> None:
    take = np.concatenate([syllables(2.0, level_db=-20), syllables(2.0, level_db=-15, seed=4)])
    assert "level_jump" not in faults_of(take, units=60)


@pytest.mark.parametrize(("units", "kind"), [(45, None), (200, FAIL), (90, WARN), (12, FAIL)])
def test_duration_against_what_the_text_predicts(units: int, kind: str | None) -> None:
    faults = faults_of(syllables(3.0), units=units)
    if kind is None:
        assert "duration" not in faults
    else:
        assert faults["duration"].severity == kind


def test_chinese_duration_is_predicted_per_character() -> None:
    assert "duration" not in faults_of(syllables(3.0), units=13, language="zh")
    assert "duration" in faults_of(syllables(3.0), units=60, language="zh")


def test_a_silent_take_fails() -> None:
    assert faults_of(silence(2.0))["no_speech"].severity == FAIL
    assert speech_span(silence(2.0), RATE) is None

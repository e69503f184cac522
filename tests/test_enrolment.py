"""Voice matching: analysis of a clip, the pitch controls, enrolment on real Kokoro speech."""

from __future__ import annotations

import time

import numpy as np
import pytest

from breathvoice.engines.base import CancelToken, SynthesisOptions, VoiceState
from breathvoice.engines.kokoro.controls import (
    EQ_LIMIT_DB,
    add_pitch_controls,
    apply_colour,
    pitch_inputs,
)
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.engines.kokoro.model import add_duration_output, read_model_bytes
from breathvoice.errors import InvalidRequest
from breathvoice.matching.analysis import (
    BANDS,
    FINE_BANDS,
    band_spectrum,
    pitch_track,
    prosody,
    tone_correction,
)
from breathvoice.matching.enrolment import EnrolmentCancelled, enrol
from breathvoice.matching.probe import ProbeRenderer, starting_pitch, worth_screening
from breathvoice.matching.search import CONTINUITY_MARGIN, rank_screened
from engine_fixture import kokoro_engine, shared_model

__all__ = ["kokoro_engine"]

RATE = 24000


def syllables(seconds: float, pitch: float, per_second: float, gain: float = 0.3) -> np.ndarray:
    """A buzzy tone at ``pitch`` Hz, loudness-modulated ``per_second`` times a second."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = pitch * (1 + 0.04 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    buzz = sum(np.sin(k * phase) / k for k in range(1, 10))
    envelope = np.sin(np.pi * per_second * t) ** 2
    return (gain * buzz * envelope / 3).astype(np.float32)


def test_pitch_track_follows_the_tone() -> None:
    for pitch in (95.0, 180.0, 300.0):
        f0 = pitch_track(syllables(2.0, pitch, 4.0), RATE)
        assert abs(np.median(f0[f0 > 0]) / pitch - 1) < 0.04


def test_prosody_tells_faster_higher_louder_clips_apart() -> None:
    calm = prosody(syllables(4.0, 150.0, 3.0, gain=0.1), RATE)
    lively = prosody(syllables(4.0, 220.0, 5.5, gain=0.4), RATE)
    assert lively.f0_median > calm.f0_median * 1.3
    assert lively.rate > calm.rate
    assert lively.level_db - calm.level_db == pytest.approx(12.0, abs=1.5)


@pytest.mark.parametrize("bands", [BANDS, FINE_BANDS])  # BANDS: also earlier voices
def test_colour_applies_gain_and_tone_without_moving_the_audio(bands: int) -> None:
    audio = syllables(1.0, 150.0, 4.0, gain=0.1)
    louder = apply_colour(audio, RATE, VoiceState("kokoro", info={"gain_db": 6.0}))
    assert np.allclose(louder, audio * 10 ** (6 / 20), atol=1e-6)
    bright = VoiceState("kokoro", arrays={"eq": np.linspace(-6, 6, bands).astype(np.float32)})
    shaped = apply_colour(audio, RATE, bright)
    assert shaped.shape == audio.shape
    spectrum = np.abs(np.fft.rfft(shaped)) / (np.abs(np.fft.rfft(audio)) + 1e-9)
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    assert np.median(spectrum[(freqs > 3000) & (freqs < 6000)]) > 2 * np.median(
        spectrum[(freqs > 100) & (freqs < 400)]
    )
    lag = np.argmax(np.correlate(shaped[:4000], audio[:4000], mode="full")) - 3999
    assert abs(lag) <= 1


def test_tone_correction_brings_the_long_term_spectrum_to_the_reference() -> None:
    noise = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32)
    dull = syllables(3.0, 140.0, 4.0) + 0.02 * noise  # energy in every band
    slope = VoiceState("kokoro", arrays={"eq": np.linspace(-9, 9, 40).astype(np.float32)})
    bright = apply_colour(dull, RATE, slope)
    target = band_spectrum(bright, RATE, FINE_BANDS)
    gains = tone_correction(target, dull, RATE)
    assert gains.shape == (FINE_BANDS,) and np.abs(gains).max() <= EQ_LIMIT_DB
    corrected = apply_colour(dull, RATE, VoiceState("kokoro", arrays={"eq": gains}))

    def shape_error(audio: np.ndarray) -> float:
        difference = band_spectrum(audio, RATE, FINE_BANDS) - target
        return float(np.abs(difference - np.median(difference)).mean())

    assert shape_error(corrected) < 0.1 * shape_error(dull)


def test_screening_renders_only_voices_that_can_reach_the_reference_pitch() -> None:
    natural = {"high": 260.0, "mid": 200.0, "low": 120.0}
    start, missed = starting_pitch(100.0, natural)
    assert start["low"] == pytest.approx(np.log(100 / 120))
    assert missed["low"] == 0.0
    assert start["high"] == pytest.approx(-0.45)  # clamped: about 8 semitones down
    assert missed["high"] == pytest.approx(12 * np.log2(260 / 100) - 12 * 0.45 / np.log(2))
    assert worth_screening(missed) == ["mid", "low"]
    # when no voice gets close, the closest ones are still tried
    _, far = starting_pitch(40.0, natural)
    assert worth_screening(far) == ["low"]


def test_a_group_s_stock_voice_starts_the_search_unless_another_is_clearly_closer() -> None:
    scores = {"near": 0.504, "current": 0.487, "far": 0.30}
    assert rank_screened(scores, "current") == ["current", "near", "far"]
    assert rank_screened(scores, None) == ["near", "current", "far"]
    assert rank_screened(scores, "unscreened") == ["near", "current", "far"]
    scores["near"] = scores["current"] + CONTINUITY_MARGIN + 0.001
    assert rank_screened(scores, "current") == ["near", "current", "far"]
    assert rank_screened(scores, "far") == ["near", "current", "far"]


def test_silent_or_tiny_clips_are_refused(kokoro_engine: KokoroEngine) -> None:
    with pytest.raises(InvalidRequest):
        enrol(kokoro_engine, np.zeros(RATE * 3, dtype=np.float32), RATE)
    with pytest.raises(InvalidRequest):
        enrol(kokoro_engine, syllables(0.3, 150.0, 4.0), RATE)


def test_emotion_clips_move_prosody_from_the_base_without_synthesis() -> None:
    calm = syllables(4.0, 150.0, 3.5, gain=0.1)
    base_info = {
        "method": "matched",
        "pitch_shift": 0.1,
        "pitch_range": 1.0,
        "speed": 1.0,
        "gain_db": -2.0,
        "reference_prosody": prosody(calm, RATE).as_dict(),
    }
    style = np.zeros((510, 1, 256), dtype=np.float32)
    base = VoiceState("kokoro", arrays={"style": style}, info=base_info)
    started = time.perf_counter()
    excited = enrol(None, syllables(4.0, 210.0, 5.0, gain=0.3), RATE, base=base)
    assert time.perf_counter() - started < 2.0
    assert excited.info["method"] == "matched_prosody"
    assert excited.info["pitch_shift"] == pytest.approx(0.1 + np.log(210 / 150), abs=0.05)
    assert excited.info["speed"] > 1.0
    assert excited.info["gain_db"] == pytest.approx(-2.0 + 9.5, abs=1.5)
    assert np.array_equal(excited.arrays["style"], style)


@pytest.mark.slow
def test_pitch_controls_move_the_model_pitch_and_default_to_the_stock_model() -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        add_pitch_controls(add_duration_output(read_model_bytes())),
        providers=["CPUExecutionProvider"],
    )
    model = shared_model("onnxruntime")
    tokens = [model.vocab[p] for p in "nˈaɪs tə mˈit juː."]
    row = model.voices["jf_alpha"][len(tokens) - 1].reshape(1, 256)
    inputs = {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": row,
        "speed": np.array([1.0], dtype=np.float32),
    }
    plain, _, f0 = session.run(None, inputs)
    stock, _ = model.run(tokens, model.voices["jf_alpha"], 1.0)
    # exp(log(f0)) is not bit-exact, so the sine source drifts in phase: compare as speech
    assert plain.size == stock.size
    unchanged, reference = pitch_track(plain.ravel(), RATE), pitch_track(stock, RATE)
    assert np.median(unchanged[unchanged > 0]) == pytest.approx(
        np.median(reference[reference > 0]), rel=0.01
    )
    assert np.sqrt(np.mean(plain**2)) == pytest.approx(np.sqrt(np.mean(stock**2)), rel=0.02)
    lower, _, lower_f0 = session.run(None, {**inputs, **pitch_inputs(np.log(0.6), 1.0)})
    voiced = f0.ravel() > 40
    assert np.median(lower_f0.ravel()[voiced]) == pytest.approx(
        0.6 * np.median(f0.ravel()[voiced]), rel=0.02
    )
    heard = pitch_track(lower.ravel(), RATE)
    before = pitch_track(plain.ravel(), RATE)
    assert np.median(heard[heard > 0]) < 0.75 * np.median(before[before > 0])


@pytest.mark.slow
def test_enrolling_a_stock_voice_finds_it_and_respects_cancel(
    kokoro_engine: KokoroEngine,
) -> None:
    voice = kokoro_engine.stock_voices()["jm_kumo"]
    chunks = kokoro_engine.synthesize("今天天气不错，我们去公园散步吧。", voice, SynthesisOptions())
    clip = np.concatenate([chunk.samples for chunk in chunks])
    fractions: list[float] = []
    started = time.perf_counter()
    state = enrol(kokoro_engine, clip, RATE, progress=fractions.append, budget_seconds=1.0)
    elapsed = time.perf_counter() - started
    assert state.info["stock_voice"] == "jm_kumo"
    assert state.info["similarity"] >= state.info["stock_similarity"] > 0.6
    assert abs(state.info["pitch_shift"]) < 0.2  # within 3.5 semitones of its own pitch
    assert state.arrays["style"].shape == (510, 1, 256)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert state.info["seconds"] <= elapsed + 0.1 < 300  # info["seconds"] is rounded
    assert 1 <= state.info["screened"] <= len(kokoro_engine.stock_voices())

    # enrolling the same clip again reuses the stock voices' probe renders
    started = time.perf_counter()
    again = enrol(kokoro_engine, clip, RATE, budget_seconds=1.0)
    assert time.perf_counter() - started < elapsed / 2
    assert again.info["similarity"] == state.info["similarity"]
    assert np.array_equal(again.arrays["style"], state.arrays["style"])

    # the pitch-only graph predicts the pitch the full render used (before its shift)
    renderer = ProbeRenderer.shared(kokoro_engine.model.vocab, 1)
    (shift, rendered), *_ = [(k[1], p) for k, p in renderer.screened.items() if k[0] == "jm_kumo"]
    natural = renderer.natural_f0(renderer.rows(kokoro_engine.model.voices["jm_kumo"]))
    assert natural * np.exp(shift) == pytest.approx(float(np.median(rendered.f0)), rel=0.01)

    cancel = CancelToken()

    def stop_at_once(fraction: float) -> None:
        cancel.cancel()

    started = time.perf_counter()
    with pytest.raises(EnrolmentCancelled):
        enrol(kokoro_engine, clip, RATE, progress=stop_at_once, cancel=cancel)
    assert time.perf_counter() - started < elapsed

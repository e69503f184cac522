"""Timbre refinement with gradients through the real Kokoro decoder and speaker embedder."""

from __future__ import annotations

import time

import numpy as np
import pytest

from breathvoice.engines.base import CancelToken, SynthesisOptions
from breathvoice.engines.kokoro.controls import DECODER_DIMS, eq_filter
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.engines.speaker import SpeakerEmbedder
from breathvoice.matching.analysis import band_spectrum, prosody
from breathvoice.matching.probe import ProbeRenderer
from breathvoice.matching.search import Cancelled, Search, screen_stock, timbre_spread
from engine_fixture import kokoro_engine

torch = pytest.importorskip("torch")
from breathvoice.matching import gradient as kokoro_gradient  # noqa: E402
from breathvoice.matching.enrolment import prepare_gradients  # noqa: E402
from breathvoice.matching.gradient import (  # noqa: E402
    TIMBRE_RADIUS,
    TimbreGradient,
    articulation,
    articulation_drift,
    refine_timbre,
)

__all__ = ["kokoro_engine"]
pytestmark = pytest.mark.slow
RATE = 24000


def test_the_torch_decoder_and_embedder_compute_what_is_served(
    kokoro_engine: KokoroEngine,
) -> None:
    renderer = ProbeRenderer.shared(kokoro_engine.model.vocab, 1)
    embedder = SpeakerEmbedder()
    model = TimbreGradient.shared(embedder.config)
    rows = renderer.rows(kokoro_engine.model.voices["jm_kumo"])
    for (served, boundary), row in zip(renderer.decoder_boundaries(rows, 0.05), rows, strict=True):
        inputs = {name: torch.from_numpy(value) for name, value in boundary.items()}
        with torch.no_grad():
            ours = model.speak(inputs, torch.from_numpy(row[:DECODER_DIMS].copy())).numpy()
        assert ours.shape == served.shape and len(served) > RATE // 2
        assert np.corrcoef(ours, served)[0, 1] > 0.99
        with torch.no_grad():
            heard = model.embedder.embed(torch.from_numpy(served), RATE).numpy()
        assert float(heard @ embedder.embed(served, RATE)) > 0.995  # resampled differently

    # each style layer's own timbre offset, as the served graph applies it
    spread = timbre_spread(kokoro_engine.model.voices)
    offsets = np.random.default_rng(5).normal(size=(model.layers, DECODER_DIMS)) * spread
    offsets = offsets.astype(np.float32)
    probe = renderer.render(rows, 0.05, timbre_offsets=offsets)
    assert probe is not None
    plain = renderer.render(rows, 0.05)
    assert plain is not None
    for (served, boundary), (unmoved, _), row in zip(probe.sentences, plain.sentences, rows,
                                                     strict=True):  # fmt: skip
        inputs = {name: torch.from_numpy(value) for name, value in boundary.items()}
        timbre = torch.from_numpy(row[:DECODER_DIMS].copy())
        with torch.no_grad():
            ours = model.speak(inputs, timbre, torch.from_numpy(offsets)).numpy()
        assert np.corrcoef(ours, served)[0, 1] > 0.99
        assert served.shape == unmoved.shape  # the timbre moves neither length nor pitch
        assert np.corrcoef(unmoved, served)[0, 1] < 0.9


def test_the_warm_up_builds_the_shared_model_and_takes_a_step(
    kokoro_engine: KokoroEngine,
) -> None:
    seconds = prepare_gradients(kokoro_engine, workers=2)
    assert seconds > 0
    assert TimbreGradient.shared(SpeakerEmbedder().config) is kokoro_gradient._shared


def _search(engine: KokoroEngine, clip: np.ndarray, start: str, seconds: float,
            cancel: CancelToken | None = None) -> Search:  # fmt: skip
    embedder = SpeakerEmbedder()
    measured = prosody(clip, RATE)
    return Search(
        renderer=ProbeRenderer.shared(engine.model.vocab, 1), embedder=embedder,
        target=embedder.embed(clip, RATE), target_bands=band_spectrum(clip, RATE),
        target_f0=measured.f0_median, target_level=measured.level_db,
        stock={start: np.asarray(engine.model.voices[start], np.float32)},
        cancel=cancel, deadline=time.perf_counter() + seconds, workers=2,
    )  # fmt: skip


def test_only_the_best_probe_keeps_what_its_decoder_read(kokoro_engine: KokoroEngine) -> None:
    voice = kokoro_engine.stock_voices()["jf_nezumi"]
    chunks = kokoro_engine.synthesize("今天天气不错。", voice, SynthesisOptions())
    search = _search(kokoro_engine, np.concatenate([c.samples for c in chunks]), "jf_alpha", 45.0)
    pack = search.stock["jf_alpha"]
    # an unusual pitch, so the stock voice's probe is rendered here, not reused
    tried = search.evaluate_many([(pack, 0.0), (pack, 0.2), (pack, 0.1234)],
                                 stock=["", "", "jf_alpha"])  # fmt: skip
    best = search.best
    assert best is not None and best in tried
    assert [bool(c.probe.sentences) for c in tried] == [c is best for c in tried]
    assert not any(probe.sentences for probe in search.renderer.screened.values())
    rows = search.renderer.rows(pack)
    again = search.renderer.decoder_boundaries(rows, best.pitch_shift)
    assert len(best.probe.sentences) == len(again) == len(rows)
    for (spoken, kept), (audio, read) in zip(best.probe.sentences, again, strict=True):
        assert np.allclose(spoken, audio, atol=1e-4)
        assert kept.keys() == read.keys()
        for name, value in read.items():
            assert np.allclose(kept[name], value, atol=1e-5), name


STEPS_CHECKED = 4


def test_gradient_steps_bring_another_voice_s_timbre_closer(kokoro_engine: KokoroEngine) -> None:
    voice = kokoro_engine.stock_voices()["jf_nezumi"]
    chunks = kokoro_engine.synthesize("今天天气不错，我们去公园散步吧。", voice, SynthesisOptions())
    clip = np.concatenate([chunk.samples for chunk in chunks])
    search = _search(kokoro_engine, clip, "jf_alpha", 45.0)
    screen_stock(search, lambda: None)
    start = search.best
    assert start is not None
    # the steps get their own time, however long the screening took on a loaded machine,
    # and end after a few of them (a step's time is what a loaded machine stretches)
    search.deadline = time.perf_counter() + 120.0
    taken: list[int] = []

    def enough() -> None:
        taken.append(1)
        if len(taken) >= STEPS_CHECKED:
            search.deadline = time.perf_counter()

    steps = refine_timbre(search, enough)
    best = search.best
    assert best is not None
    assert steps >= 2
    assert best.similarity > start.similarity + 0.01  # scored by a real render
    assert np.array_equal(best.pack, start.pack) and best.pitch_shift == start.pitch_shift
    offsets = best.timbre_offsets
    assert offsets is not None and start.timbre_offsets is None
    assert offsets.shape == (TimbreGradient.shared(search.embedder.config).layers, DECODER_DIMS)
    assert len({row.tobytes() for row in offsets}) == len(offsets)  # each layer its own
    spread = start.pack.reshape(-1, 256).std(axis=0)[:DECODER_DIMS]  # the stock given: one
    assert np.linalg.norm(offsets / spread, axis=1).max() <= TIMBRE_RADIUS * 1.001

    cancel = CancelToken()
    cancel.cancel()
    search.cancel = cancel
    search.deadline = time.perf_counter() + 60.0
    with pytest.raises(Cancelled):
        refine_timbre(search, lambda: None)


def test_the_articulation_cost_follows_the_words_not_the_voice_s_colour(
    kokoro_engine: KokoroEngine,
) -> None:
    voice = kokoro_engine.stock_voices()["jf_alpha"]

    def spoken(text: str) -> torch.Tensor:
        chunks = kokoro_engine.synthesize(text, voice, SynthesisOptions())
        return torch.from_numpy(np.concatenate([chunk.samples for chunk in chunks]))

    said, other = spoken("今天天气不错。"), spoken("我们去公园散步。")
    tilt = torch.from_numpy(eq_filter(np.linspace(-8.0, 8.0, 40), RATE))
    coloured = kokoro_gradient._filtered(said, tilt) * 0.3  # another tone and loudness
    start = articulation(said)
    assert float(articulation_drift(articulation(said), start)) == 0.0
    recoloured = float(articulation_drift(articulation(coloured), start))
    reworded = float(articulation_drift(articulation(other), start))
    assert recoloured < 0.1 * reworded, (recoloured, reworded)

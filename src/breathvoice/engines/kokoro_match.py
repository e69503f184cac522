"""Searching Kokoro's conditioning for the voice closest to a reference speaker.

A candidate is a point ``x`` in a small space around the best stock voice:

- ``x[:V]``: weights added to the stock voices (a blend, extrapolation allowed);
- ``x[V]``: pitch shift beyond the one that puts the probe at the reference's median F0;
- ``x[V+1:]``: steps along fixed random directions of the decoder half of the style
  (the 128 values the decoder reads: timbre), scaled by how much the stock voices differ.

Each candidate speaks the probe sentences; its score is the speaker embedder's cosine
similarity to the reference after the tone correction (EQ toward the reference's long-term
spectrum) it would get anyway. CMA-ES (``cma``) searches within a time budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from breathvoice.engines.base import CancelToken, FloatAudio, VoiceState
from breathvoice.engines.kokoro_analysis import band_spectrum, prosody
from breathvoice.engines.kokoro_controls import apply_colour
from breathvoice.engines.kokoro_model import SAMPLE_RATE
from breathvoice.engines.kokoro_probe import Probe, ProbeRenderer
from breathvoice.engines.speaker import SpeakerEmbedder

TIMBRE_DIRECTIONS = 4
BLEND_VOICES = 3
MAX_START_SHIFT = 0.45
PITCH_MISS_COST = 0.02
BLEND_STEP = 0.5
PITCH_STEP = 0.12
TIMBRE_STEP = 1.0
INITIAL_SIGMA = 0.35
DECODER_DIMS = 128
SEED = 20240611
T = TypeVar("T")
R = TypeVar("R")
PROBE_STEP = 0.5
TRUST_RADIUS = 1.0
RIDGE = 0.05


class Cancelled(Exception):
    """The caller cancelled the search."""


@dataclass
class Candidate:
    pack: FloatAudio
    pitch_shift: float
    eq: FloatAudio
    probe: Probe
    similarity: float
    embedding: FloatAudio


@dataclass
class Search:
    """State shared by the steps of one search."""

    renderer: ProbeRenderer
    embedder: SpeakerEmbedder
    target: FloatAudio
    target_bands: FloatAudio
    target_f0: float
    stock: dict[str, FloatAudio]
    cancel: CancelToken | None
    deadline: float
    workers: int = 1
    """Probe renders run at once (each on one ONNX thread when more than one)."""
    evaluations: int = 0
    best: Candidate | None = None
    history: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def out_of_time(self) -> bool:
        return time.perf_counter() >= self.deadline

    def evaluate(self, pack: FloatAudio, pitch_shift: float) -> Candidate:
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled
        probe = self.renderer.render(self.renderer.rows(pack), pitch_shift, cancel=self.cancel)
        if probe is None:
            raise Cancelled
        eq = tone_correction(self.target_bands, probe.audio)
        coloured = apply_colour(probe.audio, SAMPLE_RATE, _with_eq(eq))
        embedding = self.embedder.embed(coloured, SAMPLE_RATE)
        score = SpeakerEmbedder.similarity(embedding, self.target)
        candidate = Candidate(pack, pitch_shift, eq, probe, score, embedding)
        with self._lock:
            self.evaluations += 1
            self.history.append(score)
            if self.best is None or score > self.best.similarity:
                self.best = candidate
        return candidate

    def evaluate_many(self, points: list[tuple[FloatAudio, float]]) -> list[Candidate]:
        """Several candidates, ``workers`` at a time, in order."""
        return self.map(lambda point: self.evaluate(*point), points)

    def map(self, function: Callable[[T], R], items: list[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(function, items))


def _with_eq(eq: FloatAudio) -> VoiceState:
    return VoiceState(engine="kokoro", arrays={"eq": eq})


def tone_correction(target_bands: FloatAudio, audio: FloatAudio) -> FloatAudio:
    """Band gains (dB) that bring ``audio``'s long-term spectrum to the target's shape.

    Levels are matched separately, so the gains are centred; they are smoothed over three
    bands so the correction follows the spectral envelope, not single harmonics.
    """
    difference = target_bands - band_spectrum(audio, SAMPLE_RATE)
    difference = difference - np.median(difference)
    padded = np.pad(difference, 1, mode="edge")
    smooth = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    gains: FloatAudio = np.clip(smooth, -10.0, 10.0).astype(np.float32)
    return gains


def screen_stock(search: Search, on_step: Callable[[], None]) -> tuple[list[str], float]:
    """Each stock voice at the reference's pitch (within about 8 semitones).

    Returns the stock voices from closest to farthest, and the first one's similarity;
    the search's best candidate is then that voice at that pitch.
    """
    known = search.renderer.neutral_f0
    missing = [name for name in search.stock if name not in known]

    def neutral_median(name: str) -> float:
        rows = search.renderer.rows(search.stock[name])
        neutral = search.renderer.render(rows, cancel=search.cancel)
        if neutral is None:
            raise Cancelled
        return float(np.median(neutral.f0)) if len(neutral.f0) else 0.0

    for name, median in zip(missing, search.map(neutral_median, missing), strict=True):
        known[name] = median
    names = list(search.stock)
    shifts = [
        float(np.log(search.target_f0 / known[name])) if search.target_f0 and known[name] else 0.0
        for name in names
    ]
    points = [
        (search.stock[name], float(np.clip(shift, -MAX_START_SHIFT, MAX_START_SHIFT)))
        for name, shift in zip(names, shifts, strict=True)
    ]
    # a voice the clamp leaves far from the reference's pitch may please the embedder on
    # two short sentences, but not on others: charge it for the semitones it misses
    missed = [
        12 * abs(shift - point[1]) / np.log(2)
        for shift, point in zip(shifts, points, strict=True)
    ]
    candidates = search.evaluate_many(points)
    scores = {
        name: candidate.similarity - PITCH_MISS_COST * miss
        for name, candidate, miss in zip(names, candidates, missed, strict=True)
    }
    similarities = {name: c.similarity for name, c in zip(names, candidates, strict=True)}
    on_step()
    ranked = sorted(scores, key=lambda name: -scores[name])
    search.best = candidates[names.index(ranked[0])]
    return ranked, similarities[ranked[0]]


class Space:
    """Maps a search point ``x`` to a style pack and a pitch shift (see the module doc)."""

    def __init__(self, search: Search, ranked: list[str]) -> None:
        assert search.best is not None
        start = ranked[0]
        self.names = ranked[:BLEND_VOICES]
        self.packs = np.stack([search.stock[name] for name in self.names])
        every = np.stack(list(search.stock.values()))
        spread = every.reshape(len(every), -1, every.shape[-1]).std(axis=(0, 1))
        generator = np.random.default_rng(SEED)
        directions = generator.standard_normal((TIMBRE_DIRECTIONS, self.packs.shape[-1]))
        directions[:, DECODER_DIMS:] = 0.0
        directions *= spread / np.sqrt(np.mean(directions[:, :DECODER_DIMS] ** 2))
        self.directions = directions
        self.base_weights = np.array([1.0 if name == start else 0.0 for name in self.names])
        self.base_shift = search.best.pitch_shift
        self.dimensions = len(self.names) + 1 + TIMBRE_DIRECTIONS

    def decode(self, x: np.ndarray) -> tuple[FloatAudio, float]:
        count = len(self.names)
        weights = self.base_weights + BLEND_STEP * x[:count]
        total = weights.sum()
        if abs(total) < 0.2:
            total = 0.2 if total >= 0 else -0.2
        pack = np.tensordot(weights / total, self.packs, axes=1)
        pack = pack + (TIMBRE_STEP * x[count + 1 :] @ self.directions)[None, None, :]
        return pack.astype(np.float32), self.base_shift + PITCH_STEP * float(x[count])


def refine(search: Search, ranked: list[str], budget: int, on_step: Callable[[], None]) -> None:
    """CMA-ES around the best candidate so far, until the budget or the deadline."""
    import cma  # type: ignore[import-untyped]

    space = Space(search, ranked)
    options = {
        "seed": SEED,
        "verbose": -9,
        "popsize": 6,
        "maxfevals": max(budget, 1),
        "bounds": [-3.0, 3.0],
    }
    strategy = cma.CMAEvolutionStrategy(np.zeros(space.dimensions), INITIAL_SIGMA, options)
    while not strategy.stop() and search.evaluations < budget and not search.out_of_time():
        points = strategy.ask()
        room = min(len(points), budget - search.evaluations)
        if search.out_of_time() or room < len(points):
            break
        decoded = [space.decode(np.asarray(point)) for point in points]
        losses = [-candidate.similarity for candidate in search.evaluate_many(decoded)]
        on_step()
        strategy.tell(points, losses)


def refine_linear(
    search: Search, ranked: list[str], budget: int, on_step: Callable[[], None]
) -> None:
    """Gauss-Newton on the embedding itself: every render gives a whole 256-d response.

    A forward-difference Jacobian of the embedding along each search axis, then steps
    toward the reference embedding (ridge least squares in a trust region), with Broyden
    updates of the Jacobian from every new render.
    """
    assert search.best is not None
    space = Space(search, ranked)
    x = np.zeros(space.dimensions)
    current = search.best.embedding.astype(np.float64)
    target = search.target.astype(np.float64)
    if search.out_of_time() or search.evaluations + space.dimensions > budget:
        return
    axes = np.eye(space.dimensions) * PROBE_STEP
    columns = search.evaluate_many([space.decode(x + axis) for axis in axes])
    on_step()
    jacobian = np.stack(
        [(column.embedding - current) / PROBE_STEP for column in columns], axis=1
    )
    score = float(current @ target)
    radius = TRUST_RADIUS
    while not search.out_of_time() and search.evaluations < budget:
        gram = jacobian.T @ jacobian
        ridge = RIDGE * np.trace(gram) / space.dimensions + 1e-9
        delta = np.linalg.solve(gram + ridge * np.eye(space.dimensions),
                                jacobian.T @ (target - current))  # fmt: skip
        length = float(np.linalg.norm(delta))
        if length > radius:
            delta *= radius / length
        # with two workers, a half step costs no extra time and often wins
        fractions = [1.0, 0.5][: max(1, min(search.workers, 2))]
        steps = [np.clip(x + f * delta, -3.0, 3.0) - x for f in fractions]
        trials = search.evaluate_many([space.decode(x + step) for step in steps])
        on_step()
        for step, trial in zip(steps, trials, strict=True):
            moved = trial.embedding.astype(np.float64) - current
            jacobian += np.outer(moved - jacobian @ step, step) / (step @ step + 1e-12)
        best = max(range(len(trials)), key=lambda index: trials[index].similarity)
        if trials[best].similarity > score:
            x = x + steps[best]
            current = trials[best].embedding.astype(np.float64)
            score = trials[best].similarity
            radius = min(radius * 1.5, 3.0 * TRUST_RADIUS)
        else:
            radius *= 0.5
            if radius < 0.05:
                return


def probe_prosody_ratio(search: Search) -> tuple[float, float, float]:
    """Range ratio, pace ratio and level of the best candidate's probe."""
    assert search.best is not None
    best = search.best
    coloured = apply_colour(best.probe.audio, SAMPLE_RATE, _with_eq(best.eq))
    measured = prosody(coloured, SAMPLE_RATE)
    return measured.f0_range, measured.rate, measured.level_db

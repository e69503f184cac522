"""Searching Kokoro's conditioning for the voice closest to a reference speaker.

Renders are the whole cost (the decoder is 95 % of one), so every render must count:

1. **Screening**: each stock voice's own pitch on the probe comes from the pitch-only
   graph (no render); the voices that can reach the reference's pitch are rendered at it.
2. **Space**: a point ``x`` around the best stock voice is
   ``x[:V]``, weight moved toward each other stock voice (the screening renders already
   measured these directions, for free); ``x[V]``, pitch beyond the reference's median;
   ``x[V+1:]``, steps along fixed directions of the decoder half of the style (timbre)
   outside the stock voices' span, scaled by how much the stock voices differ.
3. **Gauss-Newton on the embedding**: every render gives a whole 256-d response, so a
   linear model of the embedding is fitted (forward differences on pitch and timbre,
   secants from screening for the blends, Broyden updates from every later render) and
   steps go toward the reference embedding in a trust region, until the next round would
   overrun the deadline or the gain flattens.

A candidate's score is the embedder's cosine similarity to the reference after a tone
correction (in coarse bands) and gain like those it would get anyway (heard at the
reference's spectrum and loudness).
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
from breathvoice.engines.kokoro_analysis import (
    level_gain,
    prosody,
    speech_level,
    tone_correction,
)
from breathvoice.engines.kokoro_controls import apply_colour
from breathvoice.engines.kokoro_model import SAMPLE_RATE
from breathvoice.engines.kokoro_probe import (
    Probe,
    ProbeRenderer,
    quantised,
    starting_pitch,
    worth_screening,
)
from breathvoice.engines.speaker import SpeakerEmbedder

PITCH_MISS_COST = 0.02
DECODER_DIMS = 128
TIMBRE_DIRECTIONS = 1
BLEND_STEP = 0.5
PITCH_STEP = 0.06
TIMBRE_STEP = 1.0
PROBE_STEP = 0.6
LOWER = np.array([-1.0, -4.0, -1.5])
UPPER = np.array([1.6, 4.0, 1.5])
"""Bounds on blend / pitch / timbre coordinates: far extrapolation costs intelligibility."""
TRUST_RADIUS = 1.0
RIDGE = 0.05
FLAT_GAIN = 0.003
SEED = 20240611
T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """The caller cancelled the search."""


@dataclass
class Candidate:
    pack: FloatAudio
    pitch_shift: float
    eq: FloatAudio
    gain_db: float
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
    target_level: float
    """dBFS: candidates are heard at the reference's loudness, as the matched voice is."""
    stock: dict[str, FloatAudio]
    cancel: CancelToken | None
    deadline: float
    workers: int = 1
    """Probe renders run at once (each on one ONNX thread when more than one)."""
    evaluations: int = 0
    best: Candidate | None = None
    round_seconds: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def time_for(self, renders: int) -> bool:
        """Whether that many more renders (rounds as long as the slowest so far) fit."""
        rounds = -(-renders // max(1, self.workers))
        slowest = max(self.round_seconds, default=self.renderer.round_seconds)
        return time.perf_counter() + rounds * slowest <= self.deadline

    def evaluate(self, pack: FloatAudio, pitch_shift: float, stock: str = "") -> Candidate:
        """Render and score; a ``stock`` voice's probe is kept for later enrolments."""
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled
        key = (stock, round(pitch_shift, 4))
        probe = self.renderer.screened.get(key) if stock else None
        if probe is None:
            rows = self.renderer.rows(pack)
            probe = self.renderer.render(rows, pitch_shift, cancel=self.cancel)
            if probe is None:
                raise Cancelled
            if stock:
                self.renderer.keep_screened(key, probe)
        eq, gain, heard = colour(self.target_bands, self.target_level, probe.audio)
        embedding = self.embedder.embed(heard, SAMPLE_RATE)
        score = SpeakerEmbedder.similarity(embedding, self.target)
        candidate = Candidate(pack, pitch_shift, eq, gain, probe, score, embedding)
        with self._lock:
            self.evaluations += 1
            if self.best is None or score > self.best.similarity:
                if self.best is not None:
                    self.best.probe = self.best.probe.light()
                self.best = candidate
            else:
                candidate.probe = probe.light()
        return candidate

    def evaluate_many(
        self, points: list[tuple[FloatAudio, float]], stock: list[str] | None = None
    ) -> list[Candidate]:
        """Several candidates, ``workers`` at a time, in order; timed rounds."""
        started, rendered = time.perf_counter(), self.renderer.renders
        names = stock or [""] * len(points)
        work = list(zip(points, names, strict=True))
        results = self.map(lambda item: self.evaluate(*item[0], item[1]), work)
        if self.renderer.renders > rendered:  # reused screening renders say nothing of time
            rounds = -(-(self.renderer.renders - rendered) // max(1, self.workers))
            self.round_seconds.append((time.perf_counter() - started) / rounds)
            self.renderer.round_seconds = self.round_seconds[-1]
        return results

    def map(self, function: Callable[[T], R], items: list[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(function, items))


def timbre_spread(stock: dict[str, FloatAudio]) -> FloatAudio:
    """How much the stock voices' style rows differ on each timbre dimension (std)."""
    rows = np.concatenate([pack.reshape(-1, pack.shape[-1]) for pack in stock.values()])
    spread: FloatAudio = rows[:, :DECODER_DIMS].std(axis=0)
    return spread


def colour(target_bands: FloatAudio, target_level: float,
           audio: FloatAudio) -> tuple[FloatAudio, float, FloatAudio]:  # fmt: skip
    """The tone correction (as many bands as ``target_bands``) and gain (dB) that bring
    ``audio`` to the reference's spectrum and loudness, and ``audio`` heard with them."""
    eq = tone_correction(target_bands, audio, SAMPLE_RATE)
    shaped = apply_colour(audio, SAMPLE_RATE, VoiceState(engine="kokoro", arrays={"eq": eq}))
    gain = level_gain(target_level - speech_level(shaped, SAMPLE_RATE))
    heard: FloatAudio = np.clip(shaped * np.float32(10 ** (gain / 20)), -1.0, 1.0)
    return eq, gain, heard


def screen_stock(
    search: Search, on_step: Callable[[], None]
) -> tuple[list[str], float, dict[str, Candidate]]:
    """Stock voices at the reference's pitch (within about 8 semitones).

    Voices are rendered ``workers`` at a time, those needing the least pitch change first,
    while the next round fits the deadline (one round always runs). Returns the voices
    from closest to farthest (unrendered ones last), the first one's similarity and the
    rendered candidates; the search's best is then the first voice.
    """
    known = search.renderer.neutral_f0
    for name, pack in search.stock.items():
        if name not in known:
            known[name] = search.renderer.natural_f0(search.renderer.rows(pack))
    names = list(search.stock)
    start, missed = starting_pitch(search.target_f0, {name: known[name] for name in names})
    semitones = {name: 12 * abs(start[name]) / np.log(2) + missed[name] for name in names}
    order = sorted(worth_screening(missed), key=semitones.__getitem__)
    tried: list[str] = []
    candidates: list[Candidate] = []
    size = max(1, search.workers)
    while order and (not tried or search.time_for(size)):
        batch, order = order[:size], order[size:]
        points = [(search.stock[name], quantised(start[name])) for name in batch]
        candidates += search.evaluate_many(points, stock=batch)
        tried += batch
        on_step()
    screened = dict(zip(tried, candidates, strict=True))
    scores = {name: c.similarity - PITCH_MISS_COST * missed[name] for name, c in screened.items()}
    ranked = sorted(tried, key=lambda name: -scores[name])
    ranked += sorted((name for name in names if name not in screened), key=missed.__getitem__)
    search.best = screened[ranked[0]]
    return ranked, screened[ranked[0]].similarity, screened


class Space:
    """Maps a search point ``x`` to a style pack and a pitch shift (see the module doc)."""

    def __init__(self, search: Search, ranked: list[str], base_shift: float) -> None:
        self.origin = search.stock[ranked[0]].astype(np.float64)
        self.others = ranked[1:]
        self.deltas = np.stack([search.stock[n] - self.origin for n in self.others])
        self.base_shift = base_shift
        every = np.stack(list(search.stock.values())).reshape(len(search.stock), -1, 256)
        voices = every.mean(axis=1)[:, :DECODER_DIMS]
        _, sizes, span = np.linalg.svd(voices - voices.mean(axis=0), full_matrices=False)
        span = span[sizes > 1e-6 * sizes[0]]
        scale = timbre_spread(search.stock)
        generator = np.random.default_rng(SEED)
        raw = generator.standard_normal((TIMBRE_DIRECTIONS, DECODER_DIMS)) * scale
        raw -= (raw @ span.T) @ span  # only what blending the stock voices cannot reach
        raw *= np.sqrt(np.mean(scale**2) / np.mean(raw**2, axis=1))[:, None]
        directions = np.zeros((TIMBRE_DIRECTIONS, every.shape[-1]))
        directions[:, :DECODER_DIMS] = raw
        self.directions = directions
        count = len(self.others)
        self.dimensions = count + 1 + TIMBRE_DIRECTIONS
        self.lower = np.concatenate([np.full(count, LOWER[0]), LOWER[1:2],
                                     np.full(TIMBRE_DIRECTIONS, LOWER[2])])  # fmt: skip
        self.upper = np.concatenate([np.full(count, UPPER[0]), UPPER[1:2],
                                     np.full(TIMBRE_DIRECTIONS, UPPER[2])])  # fmt: skip

    @property
    def pitch_axis(self) -> int:
        return len(self.others)

    def decode(self, x: np.ndarray) -> tuple[FloatAudio, float]:
        count = len(self.others)
        pack = self.origin + BLEND_STEP * np.tensordot(x[:count], self.deltas, axes=1)
        pack = pack + (TIMBRE_STEP * x[count + 1 :] @ self.directions)[None, None, :]
        return pack.astype(np.float32), self.base_shift + PITCH_STEP * float(x[count])

    def point_of(self, voice: str, shift: float) -> np.ndarray:
        """Where a screened stock voice at ``shift`` sits in this space."""
        x = np.zeros(self.dimensions)
        x[self.others.index(voice)] = 1.0 / BLEND_STEP
        x[self.pitch_axis] = (shift - self.base_shift) / PITCH_STEP
        return x


def refine(search: Search, ranked: list[str], screened: dict[str, Candidate],
           on_step: Callable[[], None]) -> None:  # fmt: skip
    """Gauss-Newton on the embedding from the best screened voice, until time or flat."""
    assert search.best is not None
    space = Space(search, ranked, search.best.pitch_shift)
    x = np.zeros(space.dimensions)
    current = search.best.embedding.astype(np.float64)
    target = search.target.astype(np.float64)
    measured = [space.pitch_axis + k for k in range(1 + TIMBRE_DIRECTIONS)]
    if not search.time_for(len(measured)):
        return
    columns = search.evaluate_many([space.decode(_axis(space, k)) for k in measured])
    on_step()
    jacobian = np.zeros((len(current), space.dimensions))
    for k, column in zip(measured, columns, strict=True):
        jacobian[:, k] = (column.embedding - current) / PROBE_STEP
    # the screening renders are secants along the blend axes (and a pitch difference)
    for name in space.others:
        if name in screened:
            step = space.point_of(name, screened[name].pitch_shift)
            moved = screened[name].embedding - current - jacobian @ step
            jacobian[:, space.others.index(name)] = moved / (1.0 / BLEND_STEP)
    score, radius, flat = search.best.similarity, TRUST_RADIUS, 0
    # with two workers, a half step costs no extra time and often wins
    fractions = [1.0, 0.5][: max(1, min(search.workers, 2))]
    while search.time_for(len(fractions)) and flat < 2:
        gram = jacobian.T @ jacobian
        ridge = RIDGE * np.trace(gram) / space.dimensions + 1e-9
        delta = np.linalg.solve(gram + ridge * np.eye(space.dimensions),
                                jacobian.T @ (target - current))  # fmt: skip
        length = float(np.linalg.norm(delta))
        if length > radius:
            delta *= radius / length
        steps = [np.clip(x + f * delta, space.lower, space.upper) - x for f in fractions]
        trials = search.evaluate_many([space.decode(x + step) for step in steps])
        on_step()
        for step, trial in zip(steps, trials, strict=True):
            moved = trial.embedding.astype(np.float64) - current
            jacobian += np.outer(moved - jacobian @ step, step) / (step @ step + 1e-12)
        best = max(range(len(trials)), key=lambda index: trials[index].similarity)
        gain = trials[best].similarity - score
        if gain > 0:
            x = x + steps[best]
            current = trials[best].embedding.astype(np.float64)
            score = trials[best].similarity
            radius = min(radius * 1.5, 3.0 * TRUST_RADIUS)
        else:
            radius *= 0.5
        flat = flat + 1 if gain < FLAT_GAIN else 0
        if radius < 0.1:
            return


def _axis(space: Space, k: int) -> np.ndarray:
    x = np.zeros(space.dimensions)
    x[k] = PROBE_STEP
    return x


def probe_pitch_range(search: Search) -> float:
    """Pitch range (semitones) of the best candidate's probe."""
    assert search.best is not None
    return prosody(search.best.probe.audio, SAMPLE_RATE).f0_range

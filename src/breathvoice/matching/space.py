"""Refining a screened stock voice: Gauss-Newton on the speaker embedding.

**Space**: a point ``x`` around the best stock voice is ``x[:V]``, weight moved toward
each other stock voice (the screening renders already measured these directions, for
free); ``x[V]``, pitch beyond the reference's median; ``x[V+1:]``, steps along fixed
directions of the decoder half of the style (timbre) outside the stock voices' span,
scaled by how much the stock voices differ.

**Steps**: every render gives a whole 256-d response, so a linear model of the embedding
is fitted (forward differences on pitch and timbre, secants from screening for the blends,
Broyden updates from every later render) and steps go toward the reference embedding in a
trust region, until the next round would overrun the deadline or the gain flattens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from breathvoice.engines.base import FloatAudio
from breathvoice.engines.kokoro.controls import DECODER_DIMS
from breathvoice.matching.search import Candidate, Search, timbre_spread

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

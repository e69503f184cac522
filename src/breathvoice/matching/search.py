"""Searching Kokoro's conditioning for the voice closest to a reference speaker.

Renders are the whole cost (the decoder is 95 % of one), so every render must count:

1. **Screening** (here): each stock voice's own pitch on the probe comes from the
   pitch-only graph (no render); the voices that can reach the reference's pitch are
   rendered at it.
2. **Refining** (:mod:`breathvoice.matching.space`): Gauss-Newton steps on the
   embedding over blends of the stock voices, pitch and a timbre direction.
3. **Gradient steps** (:mod:`breathvoice.matching.gradient`, with torch): all 128
   timbre dimensions at once, through the decoder and the embedder.

A candidate's score is the embedder's cosine similarity to the reference after a tone
correction (in coarse bands) and gain like those it would get anyway (heard at the
reference's spectrum and loudness). :class:`Search` holds what the steps share: the
target, the deadline and the best candidate so far.
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
from breathvoice.engines.kokoro.controls import DECODER_DIMS, apply_colour
from breathvoice.engines.kokoro.model import SAMPLE_RATE
from breathvoice.engines.speaker import SpeakerEmbedder
from breathvoice.matching.analysis import (
    level_gain,
    prosody,
    speech_level,
    tone_correction,
)
from breathvoice.matching.probe import (
    Probe,
    ProbeRenderer,
    quantised,
    starting_pitch,
    worth_screening,
)

PITCH_MISS_COST = 0.02
CONTINUITY_MARGIN = 0.03
"""How much closer another screened voice must be to start the search instead of the
stock voice the group speaks with until matching ends (see :func:`rank_screened`)."""
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
    timbre_offsets: FloatAudio | None = None
    """Per style layer (see :func:`~breathvoice.engines.kokoro.controls.add_timbre_offsets`)."""


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

    @property
    def slowest_round(self) -> float:
        """Seconds of the slowest round of renders so far (before any, the last search's)."""
        return max(self.round_seconds, default=self.renderer.round_seconds)

    def time_for(self, renders: int) -> bool:
        """Whether that many more renders (rounds as long as the slowest so far) fit."""
        rounds = -(-renders // max(1, self.workers))
        return time.perf_counter() + rounds * self.slowest_round <= self.deadline

    def evaluate(self, pack: FloatAudio, pitch_shift: float, stock: str = "",
                 timbre_offsets: FloatAudio | None = None) -> Candidate:  # fmt: skip
        """Render and score; a ``stock`` voice's probe is kept for later enrolments."""
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled
        key = (stock, round(pitch_shift, 4))
        probe = self.renderer.screened.get(key) if stock else None
        if probe is None:
            rows = self.renderer.rows(pack)
            probe = self.renderer.render(rows, pitch_shift, cancel=self.cancel,
                                         timbre_offsets=timbre_offsets)
            if probe is None:
                raise Cancelled
            if stock:
                self.renderer.keep_screened(key, probe)
        eq, gain, heard = colour(self.target_bands, self.target_level, probe.audio)
        embedding = self.embedder.embed(heard, SAMPLE_RATE)
        score = SpeakerEmbedder.similarity(embedding, self.target)
        candidate = Candidate(pack, pitch_shift, eq, gain, probe, score, embedding,
                              timbre_offsets)
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
        self, points: list[tuple[FloatAudio, float]], stock: list[str] | None = None,
        timbre_offsets: FloatAudio | None = None,
    ) -> list[Candidate]:
        """Several candidates (all with these timbre offsets), ``workers`` at a time, in
        order; timed rounds."""
        started, rendered = time.perf_counter(), self.renderer.renders
        names = stock or [""] * len(points)
        work = list(zip(points, names, strict=True))
        results = self.map(lambda item: self.evaluate(*item[0], item[1], timbre_offsets), work)
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
    search: Search, on_step: Callable[[], None], current: str | None = None
) -> tuple[list[str], float, dict[str, Candidate]]:
    """Stock voices at the reference's pitch (within about 8 semitones).

    Voices are rendered ``workers`` at a time, those needing the least pitch change first,
    while the next round fits the deadline (one round always runs). Returns the voices
    from closest to farthest (unrendered ones last; ``current``, the voice the group
    speaks with until the match ends, first when close enough: see :func:`rank_screened`),
    the first one's similarity and the rendered candidates; the search's best is then the
    first voice.
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
    ranked = rank_screened(scores, current)
    ranked += sorted((name for name in names if name not in screened), key=missed.__getitem__)
    search.best = screened[ranked[0]]
    return ranked, screened[ranked[0]].similarity, screened


def rank_screened(scores: dict[str, float], current: str | None) -> list[str]:
    """Screened voices from the best score down, except that ``current`` comes first
    unless another scores more than :data:`CONTINUITY_MARGIN` higher.

    A group keeps its character when its match ends, and the stock voice a match starts
    from carries its accent into the match: in the benchmark, an English speaker matched
    from the voice 0.017 closer at screening had 2 to 4 words in 120 misheard where the
    nearest stock voice's match had 0 to 2, for 0.01 to 0.05 less similarity.
    """
    ranked = sorted(scores, key=lambda name: -scores[name])
    if current in scores and scores[current] >= scores[ranked[0]] - CONTINUITY_MARGIN:
        ranked.remove(current)
        ranked.insert(0, current)
    return ranked


def probe_pitch_range(search: Search) -> float:
    """Pitch range (semitones) of the best candidate's probe."""
    assert search.best is not None
    return prosody(search.best.probe.audio, SAMPLE_RATE).f0_range

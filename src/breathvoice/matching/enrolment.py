"""Enrolment: the Kokoro conditioning that sounds most like a reference clip.

``enrol(engine, samples, sample_rate)`` returns a :class:`VoiceState` whose ``style`` pack
(510x1x256), timbre offsets per style layer (``timbre_offsets``, 58x128, when gradient
steps won), pitch setting, speaking speed, tone correction (``eq``, dB per band) and gain
make Kokoro's speech close to the reference speaker and to the clip's prosody:

1. the reference is measured: speaker embedding, median F0 and range, pace, loudness,
   long-term spectrum (:mod:`breathvoice.matching.analysis`);
2. the stock voices that can reach the reference's pitch speak two short probe sentences
   at it (each voice's own pitch comes from a pitch-only graph, and these renders are
   kept for later enrolments), and the closest to the speaker embedder, heard with a
   tone correction and gain like those it will get (or, unless another is clearly closer,
   the nearest stock voice the group speaks with until then), starts a Gauss-Newton
   search over stock-voice blends, pitch and a timbre direction
   (:mod:`breathvoice.matching.search`, :mod:`breathvoice.matching.space`);
   no round of renders starts unless it should end within ``budget_seconds`` of the
   call, and the search stops early when its gain flattens;
3. with ``gradients=True`` and torch installed (the ``matching`` extra), that search gets at
   most ``SEARCH_SHARE`` of the budget: the rest goes to gradient steps on the 128 timbre
   dimensions of each of the decoder's style layers, from its best point
   (:mod:`breathvoice.matching.gradient`), whose result is kept if its real render
   scores higher;
4. the tone correction is measured again on the chosen point's probe, in finer bands than
   the search compared candidates with, and pitch range and gain are set so the probe's
   prosody meets the clip's. Speed stays 1:
   without a transcript the pace of a clip is only known relative to another clip of
   the same text, which is what emotion clips use (below).

The other clips of a voice group (its emotions) are enrolled with ``base=`` the state of
the group's main clip: they keep its timbre and only move prosody (pitch level and range,
speed, loudness) by how far the clip is from the main one. Without a guard that takes no
synthesis; with one (``guard=``, :mod:`breathvoice.matching.guard`), the move is measured
on renders and corrected, and every voice, the main one included, is checked for
intelligibility and its move shrunk while it is harder to understand than the stock
voice. The main voice's check comes out of ``budget_seconds``.

A state's ``info`` says what was done: ``method`` ("matched" or "matched_prosody"),
``stock_voice``, ``similarity`` (on the probe), ``stock_similarity``, ``seconds`` and the
controls the engine must honour: ``pitch_shift``, ``pitch_range``, ``speed``,
``gain_db`` (see :func:`breathvoice.engines.kokoro.controls.voice_inputs` and
:func:`~breathvoice.engines.kokoro.controls.apply_colour`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from breathvoice.engines.base import CancelToken, FloatAudio, VoiceState
from breathvoice.engines.kokoro.controls import TIMBRE_OFFSETS_INPUT
from breathvoice.engines.speaker import EMBEDDER_NAME, SpeakerEmbedder
from breathvoice.errors import InvalidRequest
from breathvoice.matching.analysis import FINE_BANDS, band_spectrum, prosody
from breathvoice.matching.gradient import gradient_available, refine_timbre, warm_up
from breathvoice.matching.guard import Guard
from breathvoice.matching.moves import RANGE_LIMITS, emotion_move
from breathvoice.matching.probe import ProbeRenderer
from breathvoice.matching.search import (
    Cancelled,
    Search,
    colour,
    probe_pitch_range,
    screen_stock,
)
from breathvoice.matching.space import refine
from breathvoice.qa.recognise import Listener

__all__ = ["EnrolmentCancelled", "enrol", "prepare_gradients", "uses_gradients", "ENGINE_NAME"]

ENGINE_NAME = "kokoro"
DEFAULT_BUDGET_SECONDS = 57.0
SEARCH_SHARE = 0.25
"""With gradients, the render-only search gets at most this part of the budget: time to
screen the stock voices and a round or two of blends. The gradient steps get the rest. In
the benchmark, the rounds a half share added raised the probe similarity by 0.012 and 0
(the other two speakers' searches had stopped before), where the steps raised it by
0.1-0.45 in about 40 s; on held-out sentences, steps past 12-16 gained no more."""
MIN_GRADIENT_BUDGET = 20.0
"""Below this a gradient step would not fit: the search gets the whole budget."""
EXPECTED_RENDERS = 12
"""For progress only: screening, pitch and timbre probes and a few steps."""
MIN_SPEECH_SECONDS = 1.0
GUARD_SECONDS = 15.0
"""Time kept for the intelligibility check of the matched voice until one was measured."""
GUARD_SHARE = 1 / 3
"""At most this share of the budget is kept for that check (on a busy machine the last
check may have been slow: the search must not lose all its time to it)."""

_embedder_lock = threading.Lock()
_embedder: SpeakerEmbedder | None = None
_guards: dict[tuple[str, ...], Guard] = {}
_check_seconds = [GUARD_SECONDS]
"""How long the last check of a matched voice took."""


class EnrolmentCancelled(Exception):
    """Raised by :func:`enrol` when its cancel token fires."""


def _shared_embedder() -> SpeakerEmbedder:
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = SpeakerEmbedder()
        return _embedder


def uses_gradients(requested: bool, budget_seconds: float) -> bool:
    """Whether a match asked for gradient steps gets them: torch is there and they fit."""
    return requested and gradient_available() and budget_seconds >= MIN_GRADIENT_BUDGET


def _renderer(engine: Any, workers: int) -> ProbeRenderer:
    # Its own session, made on the calling (niced) thread: the renders' ONNX threads inherit
    # the low priority, so synthesis on the engine's session comes first.
    return ProbeRenderer.shared(engine.model.vocab, 1 if workers > 1 else 0)


def _guard(engine: Any, workers: int, guard: Guard | Sequence[str] | None) -> Guard | None:
    """The guard for ``guard``'s languages, its renders on the niced probe session and
    recognition on the process's shared recogniser."""
    if guard is None or isinstance(guard, Guard):
        return guard
    languages = tuple(guard)
    if not languages:
        return None
    with _embedder_lock:
        if languages not in _guards:
            renderer = _renderer(engine, workers)

            def speak(voice: VoiceState, text: str, language: str) -> FloatAudio:
                return renderer.speak(renderer.phonemes(text, language), voice,
                                      tonal=language == "zh")

            _guards[languages] = Guard(speak, Listener.shared().hear, languages,
                                       workers=workers)
        return _guards[languages]


def prepare_gradients(engine: Any, workers: int | None = None) -> float:
    """Build the gradient steps' torch model and take one step (seconds taken; 0 without
    torch), so that the first match in a process does not spend its budget on that."""
    if not gradient_available():
        return 0.0
    renderer = _renderer(engine, workers or min(2, os.cpu_count() or 1))
    pack = np.asarray(next(iter(engine.model.voices.values())), np.float32)
    return warm_up(renderer, pack, _shared_embedder().config)


def _mono(samples: FloatAudio, sample_rate: int) -> FloatAudio:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size < MIN_SPEECH_SECONDS * sample_rate or not np.isfinite(audio).all():
        raise InvalidRequest("the reference clip is too short or holds no usable audio")
    if float(np.abs(audio).max()) < 1e-4:
        raise InvalidRequest("the reference clip is silent")
    return audio


def enrol(
    engine: Any,
    reference_samples: FloatAudio,
    sample_rate: int,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    base: VoiceState | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    workers: int | None = None,
    gradients: bool = False,
    guard: Guard | Sequence[str] | None = None,
) -> VoiceState:
    """Match ``engine`` (a :class:`~breathvoice.engines.kokoro.KokoroEngine`) to a clip.

    ``progress`` gets a fraction in [0, 1]; ``cancel`` stops the search between two
    probe renders (or inside one) and raises :class:`EnrolmentCancelled`. With ``base``
    (a state this function made for another clip of the same speaker) only prosody moves.
    ``workers`` probe renders run at once (default: one per core, at most two), on a
    session of their own. One round of renders always runs; later ones only start when
    they should end within ``budget_seconds`` of the call (wall time, all included).
    With ``guard`` (a :class:`~breathvoice.matching.guard.Guard` or the languages the
    group speaks) the voice is checked for intelligibility and emotions' moves are
    measured on renders (see :mod:`breathvoice.matching.guard`).
    """
    started = time.perf_counter()
    audio = _mono(reference_samples, sample_rate)
    measured = prosody(audio, sample_rate)
    workers = workers or min(2, os.cpu_count() or 1)
    checker = _guard(engine, workers, guard)
    pace, language = checker.clip_pace(audio, sample_rate) if checker else (0.0, "")
    if base is not None and base.info.get("reference_prosody"):
        state, targets = emotion_move(base, measured, pace, started)
        if checker is None:
            return state
        state = checker.fit_emotion(state, base, targets)
        state.info["seconds"] = round(time.perf_counter() - started, 2)
        return state

    report = progress or (lambda fraction: None)
    renderer = _renderer(engine, workers)
    embedder = _shared_embedder()
    target = embedder.embed(audio, sample_rate)
    # the voice the group speaks with until this ends (the engine keeps the stock voices'
    # embeddings once made: an upload made them unless the server restarted since)
    current, _ = engine.nearest_stock(target)
    stock_voice = engine.stock_voices()[current]
    if checker is not None:  # before the search, so that it knows the time left
        checker.stock_errors(current, stock_voice)
        budget_seconds -= min(_check_seconds[0], GUARD_SHARE * budget_seconds)
    # the search and gradient steps share what is left (the stock check took some)
    searching = time.perf_counter()
    search_seconds = max(1.0, budget_seconds - (searching - started))
    stock = {name: np.asarray(pack, np.float32) for name, pack in engine.model.voices.items()}
    search = Search(
        renderer=renderer,
        embedder=embedder,
        target=target,
        target_bands=band_spectrum(audio, sample_rate),
        target_f0=measured.f0_median,
        target_level=measured.level_db,
        stock=stock,
        cancel=cancel,
        deadline=searching + search_seconds,
        workers=workers,
    )
    fractions = [0.0]

    def on_step() -> None:
        elapsed = (time.perf_counter() - started) / budget_seconds
        fractions.append(min(0.99, max(search.evaluations / EXPECTED_RENDERS, elapsed)))
        report(max(fractions))

    gradients = uses_gradients(gradients, search_seconds)
    if gradients:
        search.deadline = searching + SEARCH_SHARE * search_seconds
    try:
        ranked, stock_similarity, screened = screen_stock(search, on_step, current)
        refine(search, ranked, screened, on_step)
        search.deadline = searching + search_seconds
        steps = refine_timbre(search, on_step) if gradients else 0
    except Cancelled as exc:
        raise EnrolmentCancelled from exc
    best = search.best
    assert best is not None
    # the voice keeps a finer tone correction than the search compared candidates with
    eq, gain_db, _ = colour(band_spectrum(audio, sample_rate, FINE_BANDS), measured.level_db,
                            best.probe.audio)
    probe_range = probe_pitch_range(search)
    pitch_range = measured.f0_range / probe_range if probe_range > 0.5 else 1.0
    state = VoiceState(
        engine=ENGINE_NAME,
        arrays=_arrays(best.pack, eq, best.timbre_offsets),
        info={
            "method": "matched",
            "stock_voice": ranked[0],
            "similarity": round(best.similarity, 4),
            "stock_similarity": round(stock_similarity, 4),
            "embedder": EMBEDDER_NAME,
            "evaluations": search.evaluations,
            "screened": len(screened),
            "gradient_steps": steps,
            "pitch_shift": round(best.pitch_shift, 4),
            "pitch_range": round(float(np.clip(pitch_range, *RANGE_LIMITS)), 4),
            "speed": 1.0,
            "gain_db": round(gain_db, 2),
            "reference_prosody": measured.as_dict(),
            "reference_pace": round(pace, 3),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    if checker is not None:
        state = checker.protect_voice(state, stock_voice, current)
        _check_seconds[0] = float(state.info["intelligibility"]["seconds"])
        state.info.update(clip_language=language,
                          seconds=round(time.perf_counter() - started, 2))
    report(1.0)
    return state


def _arrays(pack: FloatAudio, eq: FloatAudio,
            timbre_offsets: FloatAudio | None) -> dict[str, FloatAudio]:  # fmt: skip
    arrays = {"style": pack.astype(np.float32), "eq": eq}
    if timbre_offsets is not None:
        arrays[TIMBRE_OFFSETS_INPUT] = timbre_offsets.astype(np.float32)
    return arrays

"""Refining a matched voice's timbre with gradients through Kokoro's decoder.

A render-only search measures how the speaker embedding answers along a handful of the
128 timbre dimensions, one timbre for the whole decoder. Here the decoder
(:func:`~breathvoice.matching.probe_graphs.decoder_cut`) and the speaker embedder run in
torch, so one forward and backward pass over a probe sentence gives the gradient of the
similarity along all 128 dimensions of each of the decoder's 58 style layers at once (its
timbre offsets, see :func:`~breathvoice.engines.kokoro.controls.add_timbre_offsets`): the
layers that shape the spectrum's fine detail can move apart from those that shape the
sounds. Adam steps along it, one probe sentence after the other, in units of how much the
stock voices differ on each dimension and within a radius of the start per layer, with the
search's best pitch, tone correction and gain held; a second term keeps the sentence's
articulation where it started, so the voice moves far without slurring. Where the steps
end is then rendered and scored by the real model and embedder, and kept only if it wins
there too.

Needs torch (the ``matching`` extra); :func:`gradient_available` says whether it is there.
The server uses it unless ``BREATHVOICE_ENROLMENT_GRADIENTS=off``, and builds it with
:func:`warm_up` before its first match and gives the steps' memory back with
:func:`return_freed_memory` once no match is waiting.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from breathvoice.engines.base import FloatAudio
from breathvoice.engines.kokoro.controls import (
    DECODER_DIMS,
    TIMBRE_OFFSETS_INPUT,
    add_timbre_offsets,
    eq_filter,
    timbre_layer_count,
)
from breathvoice.engines.kokoro.model import SAMPLE_RATE, read_model_bytes
from breathvoice.engines.speaker import EmbedderConfig, slaney_mel_filters
from breathvoice.matching.probe import ProbeRenderer
from breathvoice.matching.probe_graphs import decoder_cut
from breathvoice.matching.search import Cancelled, Search, timbre_spread

if TYPE_CHECKING:
    import torch

LEARNING_RATE = 0.3
"""Adam step, in units of the stock voices' spread on each timbre dimension."""
TIMBRE_RADIUS = 15.0
"""Largest move of a style layer, in the same units (a root mean square of 1.3 per
dimension)."""
ARTICULATION_WEIGHT = 1.0
"""Cost of changing how the sounds of a probe sentence follow one another (see
:func:`articulation`), against the similarity. Without it, moves past a third of the
radius raised the benchmark's Chinese character error by 2.5 points and more."""
ARTICULATION_FRAME = 1200
"""50 ms at 24 kHz, hop 12.5 ms."""
ARTICULATION_BANDS = 64
"""Mel bands up to 8 kHz, the range of the formants that tell speech sounds apart."""
ROUNDS_PER_STEP = 2.0
"""How long a step is taken to last, in rounds of probe renders, until the match has
timed one of its steps after the first."""

_lock = threading.Lock()
_shared: TimbreGradient | None = None


def gradient_available() -> bool:
    """Whether torch can be imported, so timbre refinement can run."""
    return importlib.util.find_spec("torch") is not None


class TimbreGradient:
    """Kokoro's decoder and the speaker embedder as one differentiable torch function."""

    def __init__(self, embedder: EmbedderConfig) -> None:
        import onnx

        from breathvoice.matching.onnx_torch import GraphRunner
        from breathvoice.matching.speaker_torch import TorchSpeakerEmbedder

        # The pitch controls and duration output sit upstream of the decoder, which reads
        # the pitch curve through the same tensor names: the plain model's cut is the same.
        model = onnx.load_from_string(add_timbre_offsets(read_model_bytes()))
        nodes, names = decoder_cut(model.graph)
        self.timbre_input = names[0]
        self.layers = timbre_layer_count(model)
        self.decoder = GraphRunner(model, nodes)
        del model
        self.embedder = TorchSpeakerEmbedder(embedder)

    @classmethod
    def shared(cls, embedder: EmbedderConfig) -> TimbreGradient:
        """The process's instance, built on first use."""
        global _shared
        with _lock:
            if _shared is None:
                _shared = cls(embedder)
            return _shared

    def speak(self, boundary: dict[str, torch.Tensor], timbre: torch.Tensor,
              offsets: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """The decoder's audio for one sentence with this timbre half (128 values) and
        these offsets to it (one row per style layer; default none)."""
        inputs = {**boundary, self.timbre_input: timbre.reshape(1, -1)}
        if offsets is not None:
            inputs[TIMBRE_OFFSETS_INPUT] = offsets
        (audio,) = self.decoder.run(inputs, ["audio"])
        return audio.reshape(-1)


def warm_up(renderer: ProbeRenderer, pack: FloatAudio, embedder: EmbedderConfig) -> float:
    """Build the shared torch model and take one step with it; returns the seconds taken.

    The first step in a process costs about 5 s more than the later ones (the kernels'
    set-up): a server does this before its first match, so that match gets its steps.
    """
    import torch

    started = time.perf_counter()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    model = TimbreGradient.shared(embedder)
    rows = renderer.rows(pack)
    _, boundary = renderer.decoder_boundaries(rows)[-1]
    timbre = torch.from_numpy(np.array(rows[-1][:DECODER_DIMS], np.float32))
    offsets = torch.zeros(model.layers, DECODER_DIMS, requires_grad=True)
    spoken = model.speak(_as_tensors(boundary), timbre, offsets)
    model.embedder.embed(spoken, SAMPLE_RATE).sum().backward()  # type: ignore[no-untyped-call]
    return time.perf_counter() - started


def refine_timbre(search: Search, on_step: Callable[[], None]) -> int:
    """Adam on the best candidate's timbre offsets, while time allows.

    Returns how many gradient steps ran; ``search.best`` is where they end (the same style
    and pitch, with ``timbre_offsets``) if that also wins on the real model.
    """
    import torch

    best = search.best
    if best is None or not search.time_for(1):
        return 0
    # like the probe renders' sessions with one worker: every core, at most two
    torch.set_num_threads(max(search.workers, min(2, os.cpu_count() or 1)))
    model = TimbreGradient.shared(search.embedder.config)
    renderer = search.renderer
    rows = renderer.rows(best.pack)
    sentences = best.probe.sentences or renderer.decoder_boundaries(rows, best.pitch_shift)
    boundaries = [_as_tensors(boundary) for _, boundary in sentences]
    timbres = [torch.from_numpy(np.array(row[:DECODER_DIMS], np.float32)) for row in rows]
    spread = torch.from_numpy(timbre_spread(search.stock).astype(np.float32))
    taps = torch.from_numpy(eq_filter(best.eq, SAMPLE_RATE).astype(np.float32))
    gain = float(10 ** (best.gain_db / 20))
    target = torch.from_numpy(np.asarray(search.target, np.float32))

    def heard(audio: torch.Tensor) -> torch.Tensor:
        """As the voice will play it: with the search's tone correction and gain."""
        return _filtered(audio, taps) * gain

    said = [articulation(heard(torch.from_numpy(audio))) for audio, _ in sentences]

    step = torch.zeros(model.layers, DECODER_DIMS, requires_grad=True)
    optimiser = torch.optim.Adam([step], lr=LEARNING_RATE)
    timed: list[float] = []
    steps = 0
    while _time_left(search, _next_step_seconds(search, timed)):
        if search.cancel is not None and search.cancel.cancelled:
            raise Cancelled
        began = time.perf_counter()
        optimiser.zero_grad()
        sentence = steps % len(boundaries)  # in turn: half the cost of a step on both
        spoken = heard(model.speak(boundaries[sentence], timbres[sentence], step * spread))
        similarity = torch.dot(model.embedder.embed(spoken, SAMPLE_RATE), target)
        drift = articulation_drift(articulation(spoken), said[sentence])
        (ARTICULATION_WEIGHT * drift - similarity).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        with torch.no_grad():
            lengths = step.norm(dim=1, keepdim=True).clamp(min=1e-9)
            step *= (TIMBRE_RADIUS / lengths).clamp(max=1.0)
        if steps:  # a match's first step also pays one-off costs (memory given back when idle)
            timed.append(time.perf_counter() - began)
        steps += 1
        on_step()
    if steps:
        offsets = (step.detach() * spread).numpy()
        search.evaluate_many([(best.pack, best.pitch_shift)], timbre_offsets=offsets)
        on_step()
    return steps


def _next_step_seconds(search: Search, timed: list[float]) -> float:
    """The slowest of this match's steps after the first, else two rounds of renders."""
    if timed:
        return max(timed)
    return ROUNDS_PER_STEP * search.slowest_round


def articulation(audio: torch.Tensor) -> torch.Tensor:
    """Per frame, the log mel spectrum up to 8 kHz less its mean over the sentence: how
    the sounds change, without the voice's long-term colour (which the steps move)."""
    import torch

    frames = audio.unfold(0, ARTICULATION_FRAME, ARTICULATION_FRAME // 4)
    power = torch.fft.rfft(frames * torch.hann_window(ARTICULATION_FRAME), dim=-1).abs() ** 2
    filters = _articulation_filters()
    bands = power[:, : filters.shape[1]] @ filters.T
    spectrum = torch.log(bands + 1e-3 * bands.mean())  # floor: 30 dB under the mean
    return spectrum - spectrum.mean(dim=0)


@functools.cache
def _articulation_filters() -> torch.Tensor:
    import torch

    # a 16 kHz filterbank with the same 20 Hz bins covers the spectrum's first 8 kHz
    bins = ARTICULATION_FRAME * 16000 // SAMPLE_RATE
    return torch.from_numpy(slaney_mel_filters(16000, bins, ARTICULATION_BANDS))


def articulation_drift(now: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Mean squared change between two :func:`articulation` results of one sentence."""
    frames = min(now.shape[0], start.shape[0])
    return ((now[:frames] - start[:frames]) ** 2).mean()


def _as_tensors(boundary: dict[str, FloatAudio]) -> dict[str, torch.Tensor]:
    import torch

    return {name: torch.from_numpy(np.array(value)) for name, value in boundary.items()}


def return_freed_memory() -> None:
    """Give the C heap's free memory back to the system.

    A gradient step's autograd buffers (gigabytes) stay in the heap once freed. Keeping
    them while matches follow one another saves about 5 s per match (the next match's
    first step would fault them back in), so the caller does this once it is idle.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _time_left(search: Search, step_seconds: float) -> bool:
    """Room for one more step and then the round that renders the result."""
    return time.perf_counter() + 1.1 * step_seconds + search.slowest_round <= search.deadline


def _filtered(audio: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """The tone correction's linear-phase FIR, as :func:`apply_colour` applies it."""
    import torch

    size = audio.shape[0] + taps.shape[0] - 1
    n = 1 << (size - 1).bit_length()
    filtered = torch.fft.irfft(torch.fft.rfft(audio, n) * torch.fft.rfft(taps, n), n)
    start = taps.shape[0] // 2
    kept: torch.Tensor = filtered[start : start + audio.shape[0]]
    return kept

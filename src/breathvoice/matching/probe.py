"""Short Kokoro renders for voice matching: a style, a pitch setting, a few seconds of speech.

Matching renders the same two short sentences (one Chinese, one English) many times, so
they are phonemised once. The session is Kokoro with its pitch controls (see
:mod:`breathvoice.engines.kokoro.controls`); it is built once per process and shared.

The decoder is about 95 % of a render. A second session holds only the graph up to the
predicted pitch curve, so a style's own pitch on the probe costs a few milliseconds.

The main session also outputs what the decoder reads besides the timbre half of the style,
so the decoder can be re-run on its own with gradients (:mod:`breathvoice.matching.gradient`).
Both graphs are cut from the served model in :mod:`breathvoice.matching.probe_graphs`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from breathvoice.engines.base import CancelToken, FloatAudio, VoiceState
from breathvoice.engines.kokoro.controls import (
    F0_OUTPUT,
    apply_colour,
    control_inputs,
    pitch_inputs,
    voice_inputs,
)
from breathvoice.engines.kokoro.model import AUDIO_OUTPUT, SAMPLE_RATE
from breathvoice.engines.onnx_runtime import import_onnxruntime
from breathvoice.errors import EngineError
from breathvoice.matching.probe_graphs import probe_sessions

PROBE_SENTENCES = (("很高兴认识你。", "zh"), ("Nice to meet you.", "en"))
VOICED_HZ = 40.0
MAX_START_SHIFT = 0.45
HOPELESS_MISS_SEMITONES = 5.0
"""A voice that misses the reference's pitch by more (and loses 0.1 to the pitch cost)
is not rendered when another voice gets within this."""
KEPT_SCREENINGS = 20
"""About 6 MB of probe audio (3 s each)."""

_lock = threading.Lock()
_shared: dict[int, ProbeRenderer] = {}


Sentence = tuple[FloatAudio, dict[str, FloatAudio]]
"""One probe sentence's untrimmed audio and the decoder's inputs other than the timbre."""


@dataclass(frozen=True)
class Probe:
    audio: FloatAudio
    """The probe sentences, edge silence trimmed, joined by 0.15 s of silence."""
    f0: FloatAudio
    """The pitch curve the decoder used, Hz, voiced frames only."""
    sentences: tuple[Sentence, ...] = ()
    """Per sentence, its untrimmed audio and what the decoder read besides the timbre (see
    :func:`~breathvoice.matching.probe_graphs.decoder_cut`): gradient steps start from the
    best probe's. About 15 MB a sentence, so only probes that may still be needed keep them
    (see :meth:`Probe.light`)."""

    def light(self) -> Probe:
        """This probe without its per-sentence audio and decoder inputs."""
        return replace(self, sentences=()) if self.sentences else self


class ProbeRenderer:
    """Renders the probe sentences with any style row and pitch setting. Thread-safe."""

    def __init__(self, vocab: dict[str, int], onnx_threads: int) -> None:
        from breathvoice.engines.kokoro.g2p import Phonemizer

        ort = import_onnxruntime()
        self._session: Any
        self._pitch_session: Any
        self._session, self._pitch_session, self.decoder_input_names = probe_sessions(
            ort, onnx_threads
        )
        self._ort = ort
        self.screened: OrderedDict[tuple[str, float], Probe] = OrderedDict()
        """Stock voices' probes by (voice, pitch shift), most recent last."""
        self.neutral_f0: dict[str, float] = {}
        """Median probe F0 of each stock voice with no pitch change (see :meth:`natural_f0`)."""
        self.renders = 0
        self.round_seconds = 0.0
        """Wall time of the last round of renders a search measured (0 before any)."""
        self._phonemizer = Phonemizer(vocab)
        self._vocab = vocab
        self.tokens = [self.phonemes(text, language) for text, language in PROBE_SENTENCES]

    @classmethod
    def shared(cls, vocab: dict[str, int], onnx_threads: int = 0) -> ProbeRenderer:
        with _lock:
            renderer = _shared.get(onnx_threads)
            if renderer is None:
                renderer = cls(vocab, onnx_threads)
                _shared[onnx_threads] = renderer
            return renderer

    def phonemes(self, text: str, language: str) -> list[int]:
        spans = self._phonemizer.phonemize(text, 0, len(text), language)
        return [self._vocab[p] for span in spans for p in span.phonemes]

    def speak(self, tokens: list[int], voice: VoiceState, tonal: bool = False) -> FloatAudio:
        """One sentence as the engine serves ``voice``: its style row, controls (``tonal``:
        for Chinese), speed, tone correction and gain (on this renderer's own, niced,
        session)."""
        table = voice.arrays["style"].reshape(-1, voice.arrays["style"].shape[-1])
        inputs = {**self._inputs(tokens, table[min(len(tokens), len(table)) - 1],
                                 float(voice.info.get("speed", 1.0))),
                  **(voice_inputs(voice, tonal) or control_inputs(0.0, 1.0))}
        try:
            (audio,) = self._session.run([AUDIO_OUTPUT], inputs)
        except Exception as exc:
            raise EngineError("speech synthesis failed") from exc
        with _lock:
            self.renders += 1
        return apply_colour(np.asarray(audio, np.float32).ravel(), SAMPLE_RATE, voice)

    def rows(self, pack: FloatAudio) -> list[FloatAudio]:
        """The style rows of a 510x1x256 pack that the probe sentences use."""
        table = pack.reshape(-1, pack.shape[-1])
        return [table[min(len(t), len(table)) - 1] for t in self.tokens]

    def keep_screened(self, key: tuple[str, float], probe: Probe) -> None:
        with _lock:
            self.screened[key] = probe.light()
            self.screened.move_to_end(key)
            while len(self.screened) > KEPT_SCREENINGS:
                self.screened.popitem(last=False)

    def natural_f0(self, rows: list[FloatAudio]) -> float:
        """Median F0 (Hz) the model predicts for the probe with these rows, no pitch change."""
        curves = []
        for tokens, row in zip(self.tokens, rows, strict=True):
            try:
                (f0,) = self._pitch_session.run(None, self._inputs(tokens, row, 1.0))
            except Exception as exc:
                raise EngineError("speech synthesis failed") from exc
            curve = np.asarray(f0, dtype=np.float32).ravel()
            curves.append(curve[curve > VOICED_HZ])
        voiced = np.concatenate(curves)
        return float(np.median(voiced)) if len(voiced) else 0.0

    def decoder_boundaries(
        self, rows: list[FloatAudio], pitch_shift: float = 0.0, pitch_range: float = 1.0
    ) -> list[Sentence]:
        """Per probe sentence: its audio (untrimmed) and the decoder's inputs other than
        the timbre half of its row."""
        boundaries = []
        for tokens, row in zip(self.tokens, rows, strict=True):
            inputs = {**self._inputs(tokens, row, 1.0), **pitch_inputs(pitch_shift, pitch_range)}
            try:
                names = [AUDIO_OUTPUT, *self.decoder_input_names]
                audio, *values = self._session.run(names, inputs)
            except Exception as exc:
                raise EngineError("speech synthesis failed") from exc
            named = dict(zip(self.decoder_input_names, values, strict=True))
            boundaries.append((np.asarray(audio, np.float32).ravel(), named))
        return boundaries

    @staticmethod
    def _inputs(tokens: list[int], row: FloatAudio, speed: float) -> dict[str, Any]:
        return {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(row, dtype=np.float32).reshape(1, -1),
            "speed": np.array([speed], dtype=np.float32),
        }

    def render(
        self,
        rows: list[FloatAudio],
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        speed: float = 1.0,
        cancel: CancelToken | None = None,
        timbre_offsets: FloatAudio | None = None,
    ) -> Probe | None:
        """The probe spoken with one style row per sentence (and per-layer timbre
        offsets, see :func:`~breathvoice.engines.kokoro.controls.add_timbre_offsets`);
        None once cancelled."""
        controls = control_inputs(pitch_shift, pitch_range, timbre_offsets)
        from kokoro_onnx.trim import trim as trim_silence

        pieces: list[FloatAudio] = []
        curves: list[FloatAudio] = []
        sentences: list[Sentence] = []
        gap = np.zeros(int(0.15 * SAMPLE_RATE), dtype=np.float32)
        for tokens, row in zip(self.tokens, rows, strict=True):
            run_options = self._ort.RunOptions()

            def abort(options: Any = run_options) -> None:
                options.terminate = True

            if cancel is not None:
                cancel.on_cancel(abort)
            inputs = {**self._inputs(tokens, row, speed), **controls}
            try:
                audio, f0, *values = self._session.run(
                    [AUDIO_OUTPUT, F0_OUTPUT, *self.decoder_input_names], inputs, run_options
                )
            except Exception as exc:
                if cancel is not None and cancel.cancelled:
                    return None
                raise EngineError("speech synthesis failed") from exc
            finally:
                if cancel is not None:
                    cancel.remove(abort)
            spoken = np.asarray(audio, dtype=np.float32).ravel()
            voiced, _ = trim_silence(spoken)
            pieces += [np.asarray(voiced, dtype=np.float32), gap]
            curve = np.asarray(f0, dtype=np.float32).ravel()
            curves.append(curve[curve > VOICED_HZ])
            sentences.append((spoken, dict(zip(self.decoder_input_names, values, strict=True))))
        with _lock:
            self.renders += 1
        return Probe(np.concatenate(pieces), np.concatenate(curves), tuple(sentences))


def quantised(shift: float) -> float:
    """A pitch shift on a quarter-semitone grid, so screening renders can be reused."""
    step = np.log(2) / 48
    return float(np.round(shift / step) * step)


def starting_pitch(
    target_f0: float, natural_f0: dict[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each voice's pitch shift toward ``target_f0`` (clamped) and the semitones it misses."""
    shifts = {
        name: float(np.log(target_f0 / f0)) if target_f0 > 0 and f0 > 0 else 0.0
        for name, f0 in natural_f0.items()
    }
    limit = MAX_START_SHIFT
    start = {name: float(np.clip(shift, -limit, limit)) for name, shift in shifts.items()}
    missed = {name: float(12 * abs(shifts[name] - start[name]) / np.log(2)) for name in shifts}
    return start, missed


def worth_screening(missed: dict[str, float]) -> list[str]:
    """The voices close enough to the reference's pitch to be rendered, in order."""
    closest = min(missed.values())
    return [name for name, miss in missed.items()
            if miss <= max(closest, HOPELESS_MISS_SEMITONES)]  # fmt: skip

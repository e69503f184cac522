"""Short Kokoro renders for voice matching: a style, a pitch setting, a few seconds of speech.

Matching renders the same two short sentences (one Chinese, one English) many times, so
they are phonemised once. The session is Kokoro with its pitch controls (see
:mod:`breathvoice.engines.kokoro_controls`); it is built once per process and shared.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from breathvoice.engines.base import CancelToken, FloatAudio
from breathvoice.engines.kokoro_controls import add_pitch_controls, pitch_inputs
from breathvoice.engines.kokoro_model import (
    SAMPLE_RATE,
    add_duration_output,
    import_onnxruntime,
    read_model_bytes,
)
from breathvoice.errors import EngineError

PROBE_SENTENCES = (("很高兴认识你。", "zh"), ("Nice to meet you.", "en"))

_lock = threading.Lock()
_shared: dict[int, ProbeRenderer] = {}


@dataclass(frozen=True)
class Probe:
    audio: FloatAudio
    """The probe sentences, edge silence trimmed, joined by 0.15 s of silence."""
    f0: FloatAudio
    """The pitch curve the decoder used, Hz, voiced frames only."""


class ProbeRenderer:
    """Renders the probe sentences with any style row and pitch setting. Thread-safe."""

    def __init__(self, vocab: dict[str, int], onnx_threads: int) -> None:
        from breathvoice.engines.g2p import Phonemizer

        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if onnx_threads > 0:
            options.intra_op_num_threads = onnx_threads
        graph = add_pitch_controls(add_duration_output(read_model_bytes()))
        try:
            self._session: Any = ort.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise EngineError("the Kokoro model could not be loaded") from exc
        self._ort = ort
        self.neutral_f0: dict[str, float] = {}
        """Median probe F0 of each stock voice with no pitch change, filled by the matcher."""
        phonemizer = Phonemizer(vocab)
        self.tokens: list[list[int]] = []
        for text, language in PROBE_SENTENCES:
            spans = phonemizer.phonemize(text, 0, len(text), language)
            self.tokens.append([vocab[p] for span in spans for p in span.phonemes])

    @classmethod
    def shared(cls, vocab: dict[str, int], onnx_threads: int = 0) -> ProbeRenderer:
        with _lock:
            renderer = _shared.get(onnx_threads)
            if renderer is None:
                renderer = cls(vocab, onnx_threads)
                _shared[onnx_threads] = renderer
            return renderer

    def rows(self, pack: FloatAudio) -> list[FloatAudio]:
        """The style rows of a 510x1x256 pack that the probe sentences use."""
        table = pack.reshape(-1, pack.shape[-1])
        return [table[min(len(t), len(table)) - 1] for t in self.tokens]

    def render(
        self,
        rows: list[FloatAudio],
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        speed: float = 1.0,
        cancel: CancelToken | None = None,
    ) -> Probe | None:
        """The probe spoken with one style row per sentence; None once cancelled."""
        from kokoro_onnx.trim import trim as trim_silence

        pieces: list[FloatAudio] = []
        curves: list[FloatAudio] = []
        gap = np.zeros(int(0.15 * SAMPLE_RATE), dtype=np.float32)
        for tokens, row in zip(self.tokens, rows, strict=True):
            run_options = self._ort.RunOptions()

            def abort(options: Any = run_options) -> None:
                options.terminate = True

            if cancel is not None:
                cancel.on_cancel(abort)
            inputs = {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(row, dtype=np.float32).reshape(1, -1),
                "speed": np.array([speed], dtype=np.float32),
                **pitch_inputs(pitch_shift, pitch_range),
            }
            try:
                audio, _, f0 = self._session.run(None, inputs, run_options)
            except Exception as exc:
                if cancel is not None and cancel.cancelled:
                    return None
                raise EngineError("speech synthesis failed") from exc
            finally:
                if cancel is not None:
                    cancel.remove(abort)
            voiced, _ = trim_silence(np.asarray(audio, dtype=np.float32).ravel())
            pieces += [np.asarray(voiced, dtype=np.float32), gap]
            curve = np.asarray(f0, dtype=np.float32).ravel()
            curves.append(curve[curve > 40.0])
        return Probe(np.concatenate(pieces), np.concatenate(curves))

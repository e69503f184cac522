"""KokoroEngine honouring a matched voice's controls, as the server will once wired.

The server's engine ignores ``pitch_shift``/``pitch_range``/``speed``/``gain_db``/``eq``
today; this subclass applies them the way the proposed change to ``kokoro.py`` does:
the model call gets the pitch inputs, the speed is multiplied by the voice's, and each
chunk gets the voice's tone correction and gain.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.engines.kokoro import KokoroEngine
from breathvoice.engines.kokoro_controls import (
    add_pitch_controls,
    apply_colour,
    voice_pitch_inputs,
)
from breathvoice.engines.kokoro_model import (
    add_duration_output,
    import_onnxruntime,
    read_model_bytes,
)


class ControlledKokoroEngine(KokoroEngine):
    def __init__(self, onnx_threads: int = 0) -> None:
        super().__init__(onnx_threads)
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if onnx_threads > 0:
            options.intra_op_num_threads = onnx_threads
        graph = add_pitch_controls(add_duration_output(read_model_bytes()))
        self._controlled: Any = ort.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self._voice = threading.local()

    def synthesize(
        self, text: str, voice: VoiceState, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        speed = options.speed * float(voice.info.get("speed", 1.0))
        self._voice.pitch = voice_pitch_inputs(voice)
        for chunk in super().synthesize(text, voice, dataclasses.replace(options, speed=speed)):
            samples = apply_colour(chunk.samples, chunk.sample_rate, voice)
            yield dataclasses.replace(chunk, samples=samples)

    def _run(
        self, tokens: list[int], style: Any, speed: float, cancel: CancelToken | None
    ) -> Any:
        rows = style.reshape(-1, style.shape[-1])
        row = rows[min(len(tokens), len(rows)) - 1].reshape(1, -1).astype(np.float32)
        inputs = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": row,
            "speed": np.array([speed], dtype=np.float32),
            **getattr(self._voice, "pitch", {}),
        }
        audio, duration, _ = self._controlled.run(None, inputs)
        return np.asarray(audio, np.float32).ravel(), np.asarray(duration, np.int64).ravel()

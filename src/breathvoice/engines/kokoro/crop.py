"""Decoding only the frames live speech keeps.

Kokoro speaks a padding token at each edge of a call: about 0.3 s of silence before the
first phoneme (12-13 frames) and a few frames after the last, which the engine trims off
afterwards. The decoder (the vocoder) is about 95 % of a call's compute and its time grows
with the number of frames, so on a short first chunk those silent frames are about a sixth
of the call, and of the time to first audio.

:func:`add_decoder_crop` slices the decoder's three inputs (the aligned text features, and
the pitch and energy curves at two values a frame) to the frames from ``decode_lead_margin``
frames before the first phoneme to ``decode_trail_margin`` frames after the last one. The
durations, the alignment and the pitch are still predicted over the whole call, so the
words and their timing are the model's own; the lead margin keeps the first sound's onset
(with fewer than 7 frames it starts later). What changes is the decoder's per-channel
normalisation, which no longer averages over the cut silence: a short chunk comes out
about 1-2 dB quieter (a long one a few tenths), and its last sound fades out 30-40 ms
sooner. ``bench/seam.py`` hears the same words with and without the crop
(``docs/benchmarks.md``).

The engine crops live speech (a stream's first chunk, and every chunk the responsive
scheduler bounds): 15-20 % less model time for a short first chunk, a few per cent for a
long one. Script job lines, and later chunks under the classic policy, decode whole calls.

Both margins default to :data:`NO_CROP` (the whole call, bit for bit the stock model).
Output ``decode_start`` is the first frame decoded: the audio starts
``decode_start * SAMPLES_PER_FRAME`` samples into the uncut call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from breathvoice.errors import EngineError

LEAD_MARGIN_INPUT = "decode_lead_margin"
TRAIL_MARGIN_INPUT = "decode_trail_margin"
DECODE_START_OUTPUT = "decode_start"
NO_CROP = 1 << 20
"""A margin past any call's padding: nothing is cut."""
LEAD_MARGIN = 8
TRAIL_MARGIN = 3
"""Frames kept before the first phoneme and after the last when a call is cropped."""
DECODER_READS = {
    "/decoder/decoder/Concat": (0, 2),
    "/decoder/decoder/Unsqueeze": (0, 1),
    "/decoder/decoder/Unsqueeze_1": (0, 1),
}
"""Decoder nodes reading the three inputs: (input index, time axis). The text features
are (1, 512, frames); the pitch and energy curves (1, 2 * frames)."""


def crop_inputs() -> dict[str, Any]:
    """The margins of a cropped call, as model inputs."""
    return {
        LEAD_MARGIN_INPUT: np.array(LEAD_MARGIN, np.int64),
        TRAIL_MARGIN_INPUT: np.array(TRAIL_MARGIN, np.int64),
    }


def add_decoder_crop(model_bytes: bytes, duration: str) -> bytes:
    """The model with the margin inputs and output ``decode_start`` (see above);
    ``duration`` names the per-token frame counts, pads included."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    readers = {node.name: node for node in graph.node if node.name in DECODER_READS}
    if len(readers) != len(DECODER_READS):
        raise EngineError("unexpected Kokoro graph: decoder inputs not found")

    def name(short: str) -> str:
        return "/decoder_crop/" + short

    constants = {"flat": [-1], "first": 0, "last": -1, "zero": 0, "two": 2, "axis0": [0],
                 "axis1": [1], "axis2": [2]}  # fmt: skip
    for key, value in constants.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name(key)))
    for margin in (LEAD_MARGIN_INPUT, TRAIL_MARGIN_INPUT):
        graph.initializer.append(numpy_helper.from_array(np.array(NO_CROP, np.int64), margin))
        graph.input.append(helper.make_tensor_value_info(margin, TensorProto.INT64, []))

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> Any:
        return helper.make_node(op, [value if value in (duration, LEAD_MARGIN_INPUT,
                                                        TRAIL_MARGIN_INPUT) else name(value)
                                     for value in inputs], [name(output)], **attributes)

    nodes = [
        node("Reshape", [duration, "flat"], "frames"),
        node("Gather", ["frames", "first"], "lead"),
        node("Gather", ["frames", "last"], "trail"),
        node("ReduceSum", ["frames"], "total", keepdims=0),
        node("Sub", ["lead", LEAD_MARGIN_INPUT], "lead_cut"),
        node("Max", ["lead_cut", "zero"], "start"),
        node("Sub", ["trail", TRAIL_MARGIN_INPUT], "trail_over"),
        node("Max", ["trail_over", "zero"], "trail_cut"),
        node("Sub", ["total", "trail_cut"], "end"),
        node("Unsqueeze", ["start", "axis0"], "start1"),
        node("Unsqueeze", ["end", "axis0"], "end1"),
        node("Mul", ["start1", "two"], "start2"),
        node("Mul", ["end1", "two"], "end2"),
        helper.make_node("Identity", [name("start")], [DECODE_START_OUTPUT]),
    ]
    renamed: dict[str, str] = {}
    for reader, (index, axis) in DECODER_READS.items():
        source = readers[reader].input[index]
        if source not in renamed:
            bounds = ("start1", "end1") if axis == 2 else ("start2", "end2")
            renamed[source] = name(f"cut{len(renamed)}")
            nodes.append(helper.make_node("Slice", [source, *map(name, bounds),
                                                    name(f"axis{axis}")], [renamed[source]]))
    for existing in graph.node:
        if existing.name.startswith(("/decoder/", "decoder.")) or (
            existing.op_type == "DynamicQuantizeLinear"
            and any(value in renamed for value in existing.input)
        ):
            for position, value in enumerate(existing.input):
                existing.input[position] = renamed.get(value, value)
    graph.node.extend(nodes)
    _sort_nodes(graph)
    graph.output.append(
        helper.make_tensor_value_info(DECODE_START_OUTPUT, TensorProto.INT64, None)
    )
    serialized: bytes = model.SerializeToString()
    return serialized


def _sort_nodes(graph: Any) -> None:
    """Order the nodes so each comes after the producers of its inputs (depth first)."""
    producer = {out: index for index, node in enumerate(graph.node) for out in node.output}
    nodes = list(graph.node)
    placed: list[Any] = []
    done: set[int] = set()
    for root in range(len(nodes)):
        stack = [(root, False)]
        while stack:
            index, expanded = stack.pop()
            if index in done:
                continue
            if expanded:
                done.add(index)
                placed.append(nodes[index])
                continue
            stack.append((index, True))
            stack.extend((producer[value], False) for value in nodes[index].input
                         if value in producer and producer[value] not in done)
    del graph.node[:]
    graph.node.extend(placed)

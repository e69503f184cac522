"""The model's int8 convolutions as int8 matrix products onnxruntime runs fast.

The exported decoder quantises each convolution's input to uint8
(``DynamicQuantizeLinear``) and convolves it with uint8 weights (``ConvInteger``).
onnxruntime's CPU kernels multiply uint8 by uint8 on plain vector units; uint8 by int8 is
the product the CPU's dot-product instructions (VNNI, AMX) compute, and onnxruntime uses
them for ``MatMulInteger``. :func:`convolutions_as_matmuls` rewrites each one-dimensional
``ConvInteger`` of stride 1 as such a product:

- the weights and their zero point move down by 128 into int8 (``w - zp`` is unchanged);
- the input is padded with its own zero point (as ``ConvInteger`` pads), turned to
  time-major and gathered into one row per output step holding the kernel's taps
  (``im2col``);
- ``MatMulInteger`` of those rows by the weights, then back to channel-major.

Every product and sum is an integer one, so the output is bit for bit the convolution's
(the engine's tests compare the two graphs' audio). On this kind of CPU a model call
takes 0.5-0.6 of the time it took (``bench/int8_gemm.py``, ``docs/benchmarks.md``).
Without VNNI, onnxruntime's uint8-by-int8 kernels add pairs of products in 16 bits,
which can saturate, so the rewrite is only made where :func:`exact_int8_products` finds
the instructions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""CPU flags under which onnxruntime multiplies uint8 by int8 without 16-bit sums."""


def exact_int8_products(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """The CPU has an 8-bit dot-product instruction (read from ``/proc/cpuinfo``; on
    another system, or if unreadable, no)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(DOT_PRODUCT_FLAGS & set(line.partition(":")[2].split()))
    return False


def for_onnxruntime(model_bytes: bytes) -> tuple[bytes, bool]:
    """The graph onnxruntime should run, rewritten where that is exact (see above), and
    whether it was."""
    if not exact_int8_products():
        return model_bytes, False
    return convolutions_as_matmuls(model_bytes), True


def convolutions_as_matmuls(model_bytes: bytes) -> bytes:
    """The model with every 1-D, stride-1, ungrouped ``ConvInteger`` whose uint8 weights
    and zero point are constants computed as ``MatMulInteger`` (see above)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    nodes: list[Any] = []
    replaced: set[str] = set()
    for index, node in enumerate(graph.node):
        plan = _plan(node, constants)
        if plan is None:
            nodes.append(node)
            continue
        nodes += _as_matmul(graph, node, plan, f"/int8_gemm/{index}/")
        replaced.update(node.input[1::2])
    still_read = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name not in replaced or t.name in still_read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    serialized: bytes = model.SerializeToString()
    return serialized


def _plan(node: Any, constants: dict[str, Any]) -> dict[str, Any] | None:
    """Weights and geometry of a convolution this module can rewrite, else None."""
    from onnx import helper, numpy_helper

    if node.op_type != "ConvInteger" or len(node.input) != 4 or not node.input[2]:
        return None  # the input's zero point must be given: it pads the input
    if node.input[1] not in constants or node.input[3] not in constants:
        return None
    weights = numpy_helper.to_array(constants[node.input[1]])
    zero = numpy_helper.to_array(constants[node.input[3]])
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if (
        weights.dtype != np.uint8
        or weights.ndim != 3
        or zero.size != 1
        or list(attributes.get("strides", [1])) != [1]
        or attributes.get("group", 1) != 1
        or attributes.get("auto_pad", b"NOTSET") != b"NOTSET"
    ):
        return None
    pads = list(attributes.get("pads", [0, 0]))
    dilation = list(attributes.get("dilations", [1]))[0]
    return {"weights": weights, "zero": int(zero.reshape(())), "pads": pads,
            "dilation": int(dilation)}


def _as_matmul(graph: Any, node: Any, plan: dict[str, Any], prefix: str) -> list[Any]:
    """The nodes computing ``node`` (a ``ConvInteger``) as one ``MatMulInteger``."""
    from onnx import helper, numpy_helper

    weights: np.ndarray[Any, Any] = plan["weights"]
    outputs, channels, taps = weights.shape
    dilation, (before, after) = plan["dilation"], plan["pads"]
    signed = (weights.astype(np.int16) - 128).astype(np.int8)
    constants = {
        "weights": np.ascontiguousarray(signed.transpose(2, 1, 0).reshape(taps * channels,
                                                                          outputs)),
        "weights_zero": np.array(plan["zero"] - 128, np.int8),
        "pads": np.array([0, 0, before, 0, 0, after], np.int64),
        "taps": np.arange(taps, dtype=np.int64) * dilation,
        "span": np.array(-dilation * (taps - 1), np.int64),
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "rows": np.array([0, 0, taps * channels], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(value, prefix + key)
                             for key, value in constants.items())
    x, _, x_zero, _ = node.input

    def step(op: str, inputs: list[str], output: str, **attributes: Any) -> Any:
        names = [name if name in (x, x_zero) else prefix + name for name in inputs]
        return helper.make_node(op, names, [prefix + output], **attributes)

    return [
        step("Pad", [x, "pads", x_zero], "padded"),
        step("Transpose", ["padded"], "time_major", perm=[0, 2, 1]),
        step("Shape", ["time_major"], "length", start=1, end=2),
        step("Squeeze", ["length"], "length0"),
        step("Add", ["length0", "span"], "steps"),
        step("Range", ["zero", "steps", "one"], "step"),
        step("Unsqueeze", ["step", "one"], "step_column"),
        step("Add", ["step_column", "taps"], "window"),
        step("Gather", ["time_major", "window"], "gathered", axis=1),
        step("Reshape", ["gathered", "rows"], "columns"),
        step("MatMulInteger", ["columns", "weights", x_zero, "weights_zero"], "product"),
        helper.make_node("Transpose", [prefix + "product"], [node.output[0]], perm=[0, 2, 1],
                         name=node.name),
    ]

"""ONNX graphs run in torch: the values onnxruntime computes, and gradients that are right.

The graphs are built here, small, with the operator patterns Kokoro's int8 decoder uses
(dynamically quantised convolutions and matrix products, biases rounded at run time).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from breathvoice.engines.onnx_runtime import import_onnxruntime

torch = pytest.importorskip("torch")
from breathvoice.matching.onnx_torch import GraphRunner  # noqa: E402

RNG = np.random.default_rng(7)
CHANNELS, OUT, LENGTH = 4, 6, 16


def _model(nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, LENGTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


def _weights() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    quantised = RNG.integers(-100, 100, (OUT, CHANNELS, 3)).astype(np.int8)
    zero = np.array(3, np.int8)
    scale = RNG.uniform(0.002, 0.01, (1, OUT, 1)).astype(np.float32)
    bias = RNG.normal(0, 0.3, (1, OUT, 1)).astype(np.float32)
    return quantised, zero, scale, bias


def _tail(source: str) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """Float operators after the convolution, ending in ``y``."""
    node = helper.make_node
    nodes = [
        node("LeakyRelu", [source], ["act"], alpha=0.2),
        node("Sin", ["act"], ["wave"]),
        node("Pow", ["wave", "two"], ["squared"]),
        node("Add", ["act", "squared"], ["snake"]),
        node("ReduceMean", ["snake", "time_axis"], ["mean"], keepdims=1),
        node("Sub", ["snake", "mean"], ["centred"]),
        node("Split", ["centred", "halves"], ["left", "right"], axis=2),
        node("Concat", ["right", "left"], ["swapped"], axis=2),
        node("Pad", ["swapped", "pads"], ["padded"], mode="reflect"),
        node("Resize", ["padded", "", "scales"], ["doubled"], mode="nearest",
             coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        node("ConvTranspose", ["doubled", "up_w"], ["up"], strides=[2], pads=[1, 1],
             output_padding=[1], kernel_shape=[3]),
        node("Slice", ["up", "starts", "ends", "axes"], ["cut"]),
        node("Transpose", ["cut"], ["flipped"], perm=[0, 2, 1]),
        node("Reshape", ["flipped", "flat_shape"], ["y"]),
    ]  # fmt: skip
    constants = {
        "two": np.array(2.0, np.float32),
        "time_axis": np.array([2], np.int64),
        "halves": np.array([LENGTH // 2, LENGTH // 2], np.int64),
        "pads": np.array([0, 0, 2, 0, 0, 2], np.int64),
        "scales": np.array([1.0, 1.0, 2.0], np.float32),
        "up_w": RNG.normal(0, 0.3, (OUT, 3, 3)).astype(np.float32),
        "starts": np.array([1], np.int64),
        "ends": np.array([-1], np.int64),
        "axes": np.array([2], np.int64),
        "flat_shape": np.array([0, -1], np.int64),
    }
    return nodes, constants


def quantised_model() -> onnx.ModelProto:
    """x -> int8 convolution with a bias rounded at run time (Kokoro's pattern) -> tail."""
    quantised, zero, scale, bias = _weights()
    node = helper.make_node
    nodes = [
        node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        node("ConvInteger", ["xq", "w", "xz", "wz"], ["acc"], pads=[1, 1], kernel_shape=[3]),
        node("Mul", ["xs", "ws"], ["scale"]),
        node("Div", ["bias", "scale"], ["bias_tmp"]),
        node("Floor", ["bias_tmp"], ["bias_rounded"]),
        node("Cast", ["bias_rounded"], ["bias_int"], to=TensorProto.INT32),
        node("Add", ["acc", "bias_int"], ["acc_biased"]),
        node("Cast", ["acc_biased"], ["acc_float"], to=TensorProto.FLOAT),
        node("Mul", ["acc_float", "scale"], ["conv"]),
    ]
    tail, constants = _tail("conv")
    constants |= {"w": quantised, "wz": zero, "ws": scale, "bias": bias}
    return _model(nodes + tail, constants)


def float_model() -> onnx.ModelProto:
    """The same with the dequantised weights in a float convolution."""
    quantised, zero, scale, bias = _weights()
    weight = (quantised.astype(np.float32) - zero) * scale.reshape(OUT, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1], kernel_shape=[3])]
    tail, constants = _tail("conv")
    constants |= {"w": weight, "b": bias.reshape(OUT)}
    return _model(nodes + tail, constants)


def run_both(model: onnx.ModelProto, x: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    ort = import_onnxruntime()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["y"], {"x": x})
    (ours,) = GraphRunner(model, model.graph.node).run({"x": torch.from_numpy(x)}, ["y"])
    return np.asarray(expected), ours


@pytest.mark.parametrize("build", [quantised_model, float_model])
def test_values_are_onnxruntime_s(build: object) -> None:
    global RNG
    RNG = np.random.default_rng(7)
    model = build()  # type: ignore[operator]
    x = RNG.normal(0, 1, (1, CHANNELS, LENGTH)).astype(np.float32)
    expected, ours = run_both(model, x)
    assert ours.shape == expected.shape and expected.size > LENGTH
    assert np.allclose(ours.numpy(), expected, rtol=1e-4, atol=1e-4)


def _gradient(model: onnx.ModelProto, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    leaf = torch.tensor(x, requires_grad=True)
    (y,) = GraphRunner(model, model.graph.node).run({"x": leaf}, ["y"])
    (y * torch.from_numpy(weights)).sum().backward()
    return leaf.grad.numpy()


def test_gradients_match_finite_differences_and_pass_through_quantisation() -> None:
    global RNG
    RNG = np.random.default_rng(7)
    exact = float_model()
    RNG = np.random.default_rng(7)
    quantised = quantised_model()
    x = np.random.default_rng(1).normal(0, 1, (1, CHANNELS, LENGTH)).astype(np.float32)
    _, y = run_both(exact, x)
    weights = np.random.default_rng(2).normal(0, 1, tuple(y.shape)).astype(np.float32)
    gradient = _gradient(exact, x, weights)

    direction = np.random.default_rng(3).normal(0, 1, x.shape).astype(np.float32)
    runner = GraphRunner(exact, exact.graph.node)

    def loss(point: np.ndarray) -> float:
        (out,) = runner.run({"x": torch.from_numpy(point.astype(np.float32))}, ["y"])
        return float((out * torch.from_numpy(weights)).sum())

    step = 1e-2
    numeric = (loss(x + step * direction) - loss(x - step * direction)) / (2 * step)
    assert float((gradient * direction).sum()) == pytest.approx(numeric, rel=0.02)

    # rounding passes gradients straight through: the int8 graph's gradient is the float one's
    through = _gradient(quantised, x, weights)
    cosine = (through * gradient).sum() / np.linalg.norm(through) / np.linalg.norm(gradient)
    assert cosine > 0.98


def test_an_unknown_operator_is_named() -> None:
    node = helper.make_node("Erf", ["x"], ["y"])
    model = _model([node], {})
    with pytest.raises(NotImplementedError, match="Erf"):
        GraphRunner(model, model.graph.node).run({"x": torch.zeros(1, CHANNELS, LENGTH)}, ["y"])

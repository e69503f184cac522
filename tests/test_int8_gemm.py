"""The int8 convolutions rewritten as int8 matrix products give the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from breathvoice.engines.kokoro.controls import TIMBRE_OFFSETS_INPUT, control_inputs
from breathvoice.engines.kokoro.crop import add_decoder_crop
from breathvoice.engines.kokoro.int8_gemm import (
    convolutions_as_matmuls,
    exact_int8_products,
)
from breathvoice.engines.kokoro.model import (
    DURATION_OUTPUT,
    KokoroModel,
    read_model_bytes,
    served_graph,
    session_options,
)
from breathvoice.engines.onnx_runtime import import_onnxruntime
from engine_fixture import shared_model

needs_dot_products = pytest.mark.skipif(
    not exact_int8_products(), reason="the CPU has no 8-bit dot-product instruction"
)


def convolutions(cases: list[dict[str, object]], seed: int = 0) -> tuple[bytes, list[str]]:
    """A graph of ConvInteger nodes on one uint8 input, one output per case."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, initializers, outputs = [], [], []
    for index, case in enumerate(cases):
        shape = case.pop("shape")
        weights = rng.integers(0, 256, shape, dtype=np.uint8)  # type: ignore[arg-type]
        initializers += [numpy_helper.from_array(weights, f"w{index}"),
                         numpy_helper.from_array(np.array(119 + index, np.uint8), f"wz{index}")]
        nodes.append(helper.make_node("ConvInteger", ["x", f"w{index}", "xz", f"wz{index}"],
                                      [f"y{index}"], **case))
        outputs.append(helper.make_tensor_value_info(f"y{index}", TensorProto.INT32, None))
    graph = helper.make_graph(
        nodes, "convolutions",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 32, None]),
         helper.make_tensor_value_info("xz", TensorProto.UINT8, [])],
        outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), [o.name for o in outputs]


def op_counts(model_bytes: bytes) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load_from_string(model_bytes).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def test_the_cpu_flags_decide_where_the_rewrite_is_made(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert exact_int8_products(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not exact_int8_products(cpuinfo)
    assert not exact_int8_products(tmp_path / "missing")


@needs_dot_products
def test_every_kind_of_convolution_gives_the_same_integers() -> None:
    ort = import_onnxruntime()
    cases: list[dict[str, object]] = [
        {"shape": (24, 32, 3), "kernel_shape": [3], "pads": [1, 1]},
        {"shape": (16, 32, 7), "kernel_shape": [7], "pads": [9, 9], "dilations": [3]},
        {"shape": (8, 32, 11), "kernel_shape": [11], "pads": [25, 25], "dilations": [5]},
        {"shape": (40, 32, 1), "kernel_shape": [1], "pads": [0, 0]},
        {"shape": (8, 32, 5), "kernel_shape": [5], "pads": [1, 3]},
        {"shape": (8, 32, 4), "kernel_shape": [4], "pads": [1, 1], "strides": [2]},
    ]
    graph, outputs = convolutions(cases)
    rewritten = convolutions_as_matmuls(graph)
    counts = op_counts(rewritten)
    assert counts["MatMulInteger"] == 5 and counts["ConvInteger"] == 1  # stride 2 stays
    plain = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    fast = ort.InferenceSession(rewritten, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for length in (2, 9, 130):
        feed = {"x": rng.integers(0, 256, (1, 32, length), dtype=np.uint8),
                "xz": np.array(rng.integers(0, 256), np.uint8)}
        for name, want, got in zip(outputs, plain.run(None, feed), fast.run(None, feed),
                                   strict=True):
            assert want.shape == got.shape and want.dtype == got.dtype, name
            assert np.array_equal(want, got), (name, length)
            assert np.abs(want).max() > 0


@pytest.mark.slow
@needs_dot_products
def test_the_engine_speaks_bit_for_bit_as_the_exported_convolutions() -> None:
    ort = import_onnxruntime()
    fast = shared_model("onnxruntime")
    assert fast.int8_gemm
    graph = add_decoder_crop(served_graph(read_model_bytes()), DURATION_OUTPUT)
    assert op_counts(graph).get("ConvInteger", 0) > 80
    plain_session = ort.InferenceSession(graph, session_options(ort, 0),
                                         providers=["CPUExecutionProvider"])
    plain = KokoroModel(plain_session, fast.vocab, fast.voices, 0.0, fast.timbre_layers)
    style = fast.voices["jf_alpha"]
    rng = np.random.default_rng(2)
    offsets = rng.normal(0, 0.05, (fast.timbre_layers, 128)).astype(np.float32)
    matched = control_inputs(0.1, 1.2, offsets)
    assert matched[TIMBRE_OFFSETS_INPUT].shape == (fast.timbre_layers, 128)
    for text, controls, crop in (("θˈæŋk jˈuː", None, True),
                                 ("nˈin xˈɑʊ, ɡˈan sjˈɛ nˈin tə lˈaɪ tjˈɛn", matched, False)):
        tokens = [fast.vocab[p] for p in text if p in fast.vocab]
        want = plain.run_cropped(tokens, style, 1.0, None, controls, crop)
        got = fast.run_cropped(tokens, style, 1.0, None, controls, crop)
        assert np.array_equal(want[0], got[0]) and np.sqrt(np.mean(got[0] ** 2)) > 0.01
        assert np.array_equal(want[1], got[1]) and want[2] == got[2]


def test_auto_takes_the_faster_runtime_for_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from breathvoice.engines.kokoro import model
    from breathvoice.errors import EngineError

    for dot_products, bfloat16, expected in ((True, True, "onnxruntime"),
                                             (False, True, "openvino"),
                                             (False, False, "onnxruntime")):
        monkeypatch.setattr(model, "exact_int8_products", lambda d=dot_products: d)
        monkeypatch.setattr(model, "openvino_supported", lambda b=bfloat16: b)
        assert model.chosen_runtime("auto") == expected
        assert model.chosen_runtime("openvino") == "openvino"
        assert model.chosen_runtime("onnxruntime") == "onnxruntime"
    with pytest.raises(EngineError):
        model.chosen_runtime("tensorrt")

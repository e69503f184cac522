"""Part of an ONNX graph run in torch, so gradients can flow through it.

Only the operators Kokoro's decoder uses are known. Kokoro ships dynamically quantised
to int8: ``DynamicQuantizeLinear``, the rounding of biases (``Floor``) and integer casts
keep the values onnxruntime computes, but pass gradients straight through, as if the
rounding were not there. Integer weights are dequantised once and kept as floats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

Tensor = torch.Tensor
Inputs = list[Tensor | None]

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


def _straight_through(values: Tensor, rounded: Tensor) -> Tensor:
    """``rounded`` forward, the gradient of ``values`` backward."""
    return values + (rounded - values).detach()


def _ints(tensor: Tensor | None) -> list[int]:
    return [] if tensor is None else [int(v) for v in tensor.reshape(-1).tolist()]


def _present(inputs: Inputs, index: int) -> Tensor | None:
    return inputs[index] if len(inputs) > index else None


def _need(value: Tensor | None) -> Tensor:
    if value is None:
        raise ValueError("a required input is missing")
    return value


class GraphRunner:
    """Runs ``nodes`` (in graph order) of ``model`` on torch tensors."""

    def __init__(self, model: onnx.ModelProto, nodes: Sequence[onnx.NodeProto]) -> None:
        self.nodes = list(nodes)
        wanted = {name for node in self.nodes for name in node.input}
        self.constants: dict[str, Tensor] = {
            tensor.name: torch.from_numpy(np.array(numpy_helper.to_array(tensor)))
            for tensor in model.graph.initializer
            if tensor.name in wanted
        }
        for node in model.graph.node:
            if node.op_type == "Constant" and node.output[0] in wanted:
                value = numpy_helper.to_array(_attributes(node)["value"])
                self.constants[node.output[0]] = torch.from_numpy(np.array(value))
        self._weights: dict[tuple[str, str], Tensor] = {}
        for node in self.nodes:  # dequantised now, so every run costs the same
            if node.op_type in ("ConvInteger", "MatMulInteger"):
                self._dequantised(node, [self.constants.get(name) for name in node.input])

    def run(self, inputs: dict[str, Tensor], outputs: Sequence[str]) -> list[Tensor]:
        values: dict[str, Tensor] = {**self.constants, **inputs}
        for node in self.nodes:
            args: Inputs = [values[name] if name else None for name in node.input]
            result = self._apply(node, args)
            results = result if isinstance(result, list) else [result]
            values.update(zip(node.output, results, strict=False))
        return [values[name] for name in outputs]

    def _apply(self, node: onnx.NodeProto, x: Inputs) -> Tensor | list[Tensor]:
        op, a = node.op_type, _attributes(node)
        simple = _ELEMENTWISE.get(op)
        if simple is not None:
            return simple(*[_need(v) for v in x])
        first = _need(x[0])
        if op == "LeakyRelu":
            return F.leaky_relu(first, float(a.get("alpha", 0.01)))
        if op == "Cast":
            return _cast(first, _DTYPES[int(a["to"])])
        if op == "ReduceMean":
            axes = _ints(_present(x, 1)) or list(a.get("axes", []))
            return first.mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))
        if op == "Unsqueeze":
            for axis in sorted(v % (first.dim() + len(_ints(x[1]))) for v in _ints(x[1])):
                first = first.unsqueeze(axis)
            return first
        if op == "Squeeze":
            axes = _ints(_present(x, 1))
            if not axes:
                return first.squeeze()
            for axis in sorted((v % first.dim() for v in axes), reverse=True):
                first = first.squeeze(axis)
            return first
        if op == "Reshape":
            shape = [first.shape[i] if s == 0 else s for i, s in enumerate(_ints(x[1]))]
            return first.reshape(shape)
        if op == "Split":
            axis = int(a.get("axis", 0))
            sizes = _ints(_present(x, 1))
            if not sizes:
                count = int(a.get("num_outputs", len(node.output)))
                size = -(-first.shape[axis] // count)
                sizes = [size] * (count - 1) + [first.shape[axis] - size * (count - 1)]
            return list(torch.split(first, sizes, dim=axis))
        if op == "Concat":
            parts = [v for v in x if v is not None]
            return torch.cat(parts, dim=int(a["axis"]))
        if op == "Slice":
            return _slice(first, x)
        if op == "Gather":
            axis = int(a.get("axis", 0))
            index = _need(x[1]).long()
            index = torch.where(index < 0, index + first.shape[axis], index)
            picked = first.index_select(axis, index.reshape(-1))
            shape = [*first.shape[:axis], *index.shape, *first.shape[axis + 1 :]]
            return picked.reshape(shape)
        if op == "Shape":
            dims = torch.tensor(list(first.shape), dtype=torch.int64)
            return dims[int(a.get("start", 0)) : a.get("end")]
        if op == "Expand":
            target = _ints(x[1])
            rank = max(len(target), first.dim())
            current = [1] * (rank - first.dim()) + list(first.shape)
            target = [1] * (rank - len(target)) + target
            sizes = [c if t == 1 else t for c, t in zip(current, target, strict=True)]
            return first.reshape(current).expand(sizes)
        if op == "Transpose":
            return first.permute(list(a["perm"]))
        if op == "Range":
            limit, delta = _need(x[1]).item(), _need(x[2]).item()
            return torch.arange(first.item(), limit, delta, dtype=first.dtype)
        if op == "NonZero":
            return torch.nonzero(first).T.long()
        if op == "ScatterND":
            return _scatter_nd(first, _need(x[1]), _need(x[2]))
        if op == "Pad":
            return _pad(first, _ints(x[1]), a.get("mode", b"constant").decode())
        if op == "Resize":
            return _resize_nearest(first, x, a)
        if op == "DynamicQuantizeLinear":
            low = torch.clamp(first.min(), max=0.0)
            high = torch.clamp(first.max(), min=0.0)
            scale = (high - low) / 255.0
            zero = torch.clamp(torch.round(-low / scale), 0, 255).detach()
            scaled = first / scale
            return [torch.clamp(_straight_through(scaled, torch.round(scaled)) + zero, 0, 255),
                    scale, zero]  # fmt: skip
        if op in ("ConvInteger", "MatMulInteger"):
            offset = _present(x, 2)
            shifted = first if offset is None else first - offset
            weight = self._dequantised(node, x)
            if op == "MatMulInteger":
                return torch.matmul(shifted, weight)
            return _conv(shifted, weight, None, a)
        if op == "Conv":
            return _conv(first, _need(x[1]).float(), _present(x, 2), a)
        if op == "ConvTranspose":
            pads = list(a.get("pads", [0, 0]))
            return F.conv_transpose1d(
                first, _need(x[1]).float(), _present(x, 2), stride=int(a.get("strides", [1])[0]),
                padding=pads[0], output_padding=int(a.get("output_padding", [0])[0]),
                groups=int(a.get("group", 1)), dilation=int(a.get("dilations", [1])[0]),
            )  # fmt: skip
        raise NotImplementedError(f"operator {op} is not supported")

    def _dequantised(self, node: onnx.NodeProto, x: Inputs) -> Tensor:
        key = (node.input[1], node.input[3] if len(node.input) > 3 else "")
        weight = self._weights.get(key)
        if weight is None:
            weight = _need(x[1]).float()
            zero = _present(x, 3)
            if zero is not None:
                zero = zero.float()
                if node.op_type == "ConvInteger" and zero.numel() > 1:
                    zero = zero.reshape(-1, *([1] * (weight.dim() - 1)))
                weight = weight - zero
            self._weights[key] = weight
        return weight


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _divide(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _power(a: Tensor, b: Tensor) -> Tensor:
    # the decoder's Snake activations square their sines on long signals: a product is
    # several times faster than pow, forward and backward
    if b.numel() == 1 and float(b) == 2.0:
        return a * a
    return torch.pow(a, b)


_ELEMENTWISE: dict[str, Callable[..., Tensor]] = {
    "Mul": torch.mul, "Add": torch.add, "Sub": torch.sub, "Div": _divide, "Pow": _power,
    "Sqrt": torch.sqrt, "Sin": torch.sin, "Cos": torch.cos, "Exp": torch.exp,
    "Floor": lambda v: _straight_through(v, torch.floor(v)),
    "Equal": torch.eq, "Greater": torch.gt, "Where": torch.where,
}  # fmt: skip


def _cast(value: Tensor, dtype: torch.dtype) -> Tensor:
    if dtype in (torch.int32, torch.int64) and value.is_floating_point() and value.requires_grad:
        return _straight_through(value, torch.trunc(value))  # quantised biases stay floats
    return value.to(dtype)


def _slice(data: Tensor, x: Inputs) -> Tensor:
    starts, ends = _ints(x[1]), _ints(x[2])
    axes = _ints(_present(x, 3)) or list(range(len(starts)))
    steps = _ints(_present(x, 4)) or [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        size = data.shape[axis]
        if step < 0:
            first = size + start if start < 0 else min(start, size - 1)
            last = size + end if end < 0 else min(end, size)
            data = data.index_select(axis, torch.arange(first, max(last, -1), step))
            continue
        first = max(0, size + start) if start < 0 else min(start, size)
        last = max(0, size + end) if end < 0 else min(end, size)
        index: list[slice] = [slice(None)] * data.dim()
        index[axis] = slice(first, last, step)
        data = data[tuple(index)]
    return data


def _scatter_nd(data: Tensor, indices: Tensor, updates: Tensor) -> Tensor:
    result = data.clone()
    depth = indices.shape[-1]
    flat = indices.long().reshape(-1, depth)
    result[tuple(flat.T)] = updates.reshape(flat.shape[0], *data.shape[depth:])
    return result


def _pad(value: Tensor, pads: list[int], mode: str) -> Tensor:
    half = len(pads) // 2
    widths: list[int] = []
    for axis in reversed(range(half)):  # torch lists the last axis first
        widths += [pads[axis], pads[axis + half]]
    while len(widths) > 2 and widths[-1] == 0 and widths[-2] == 0:
        widths = widths[:-2]
    return F.pad(value, widths, mode=mode)


def _resize_nearest(value: Tensor, x: Inputs, a: dict[str, Any]) -> Tensor:
    if a.get("mode") != b"nearest" or a.get("coordinate_transformation_mode") != b"asymmetric":
        raise NotImplementedError("only nearest, asymmetric resizing is supported")
    scales, sizes = _present(x, 2), _present(x, 3)
    if sizes is not None and sizes.numel():
        target = _ints(sizes)
    else:
        factors = _need(scales).tolist()
        target = [int(np.floor(n * f)) for n, f in zip(value.shape, factors, strict=True)]
    for axis, size in enumerate(target):
        if size != value.shape[axis]:
            source = torch.floor(torch.arange(size) * (value.shape[axis] / size)).long()
            value = value.index_select(axis, source.clamp(max=value.shape[axis] - 1))
    return value


def _conv(value: Tensor, weight: Tensor, bias: Tensor | None, a: dict[str, Any]) -> Tensor:
    pads = list(a.get("pads", [0, 0]))
    if pads[0] != pads[1]:
        value, pads = F.pad(value, [pads[0], pads[1]]), [0, 0]
    return F.conv1d(
        value, weight, bias, stride=int(a.get("strides", [1])[0]), padding=pads[0],
        dilation=int(a.get("dilations", [1])[0]), groups=int(a.get("group", 1)),
    )  # fmt: skip

"""Voice controls added to the Kokoro graph: pitch level and range, and per-layer timbre.

Kokoro predicts a pitch curve (F0, Hz, two values per duration frame) from the text and
the style, then its decoder and harmonic source render speech at that pitch. Rewriting
the curve between the two moves the voice's pitch with the model's own timbre, with none
of the artefacts of shifting pitch afterwards:

    voiced (F0 > VOICED_HZ):  F0' = F0 * exp((range - 1) * (log F0 - mean) + shift)
    unvoiced:                 F0' = F0 * exp(shift)

where ``mean`` is the mean log F0 of the voiced frames of the call: the voiced curve is
``exp(mean + range * (log F0 - mean) + shift)``, written as a factor on F0 so that the
neutral controls multiply by exactly 1 and stock voices sound exactly as the stock model.
The graph gets two optional inputs, ``pitch_shift`` (natural log of the ratio, default 0) and
``pitch_range`` (default 1), and a third output, ``f0``: the curve the decoder used.

The decoder reads the timbre half of the style in its style layers (each adaptive
normalisation maps it to a scale and shift for its channels). :func:`add_timbre_offsets`
gives every layer its own offset to that half, input ``timbre_offsets`` (one row of 128
per layer, default zeros, which leave the audio bit for bit as the stock model's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from breathvoice.engines.base import FloatAudio, VoiceState
from breathvoice.errors import EngineError

PITCH_SHIFT_INPUT = "pitch_shift"
PITCH_RANGE_INPUT = "pitch_range"
F0_OUTPUT = "f0"
VOICED_HZ = 40.0
F0_SOURCE = "/encoder/Squeeze_output_0"
"""The predictor's F0 curve, (1, frames), just before the decoder reads it."""
MAX_SHIFT = float(np.log(2.0))
DECODER_DIMS = 128
"""The timbre half of Kokoro's 256-value style: what its decoder reads."""
RANGE_LIMITS = (0.3, 3.0)
TONAL_MIN_RANGE = 0.8
"""The flattest pitch range Chinese is spoken with, whatever the voice asks for: tones
are pitch contours, and a flatter range (a sad clip's, say) costs them: in the fidelity
benchmark a sad emotion at 0.5 lost 14 points of character error on Chinese held-out
sentences. A stock voice read them as well at 0.8 as at 1 (Whisper base, 6 sentences:
18.9 % and 21.1 %, 23.2 % at 0.5)."""
SPECTRUM_RATE = 16000
"""The rate tone is measured at: band gains are given on mel bands up to half of it."""
EQ_LIMIT_DB = 10.0


def add_pitch_controls(model_bytes: bytes) -> bytes:
    """The model with ``pitch_shift``/``pitch_range`` inputs and an ``f0`` output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if not any(F0_SOURCE in node.output for node in graph.node):
        raise EngineError("unexpected Kokoro graph: pitch curve not found")
    consumers = [node for node in graph.node if F0_SOURCE in node.input]
    prefix = "/pitch_controls/"
    controlled = prefix + "f0"

    def name(short: str) -> str:
        return prefix + short

    constants = {
        name("threshold"): np.array(VOICED_HZ, dtype=np.float32),
        name("floor"): np.array(1.0, dtype=np.float32),
        name("one"): np.array(1.0, dtype=np.float32),
    }
    for key, value in constants.items():
        graph.initializer.append(numpy_helper.from_array(value, key))
    for key, default in ((PITCH_SHIFT_INPUT, 0.0), (PITCH_RANGE_INPUT, 1.0)):
        graph.initializer.append(numpy_helper.from_array(np.array([default], np.float32), key))
        graph.input.append(helper.make_tensor_value_info(key, TensorProto.FLOAT, [1]))
    nodes = [
        helper.make_node("Greater", [F0_SOURCE, name("threshold")], [name("voiced")]),
        helper.make_node("Cast", [name("voiced")], [name("weight")], to=TensorProto.FLOAT),
        helper.make_node("Max", [F0_SOURCE, name("floor")], [name("clamped")]),
        helper.make_node("Log", [name("clamped")], [name("log_f0")]),
        helper.make_node("Mul", [name("log_f0"), name("weight")], [name("voiced_log")]),
        helper.make_node("ReduceSum", [name("voiced_log")], [name("log_sum")], keepdims=0),
        helper.make_node("ReduceSum", [name("weight")], [name("count")], keepdims=0),
        helper.make_node("Max", [name("count"), name("one")], [name("safe_count")]),
        helper.make_node("Div", [name("log_sum"), name("safe_count")], [name("mean")]),
        helper.make_node("Sub", [name("log_f0"), name("mean")], [name("centred")]),
        helper.make_node("Sub", [PITCH_RANGE_INPUT, name("one")], [name("range_change")]),
        helper.make_node("Mul", [name("centred"), name("range_change")], [name("spread")]),
        helper.make_node("Add", [name("spread"), PITCH_SHIFT_INPUT], [name("log_factor")]),
        helper.make_node("Exp", [name("log_factor")], [name("factor")]),
        helper.make_node("Mul", [F0_SOURCE, name("factor")], [name("voiced_f0")]),
        helper.make_node("Exp", [PITCH_SHIFT_INPUT], [name("ratio")]),
        helper.make_node("Mul", [F0_SOURCE, name("ratio")], [name("unvoiced_f0")]),
        helper.make_node(
            "Where", [name("voiced"), name("voiced_f0"), name("unvoiced_f0")], [controlled]
        ),
        helper.make_node("Identity", [controlled], [F0_OUTPUT]),
    ]
    for node in consumers:
        for index, value in enumerate(node.input):
            if value == F0_SOURCE:
                node.input[index] = controlled
    position = next(i for i, node in enumerate(graph.node) if F0_SOURCE in node.output) + 1
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)
    graph.output.append(helper.make_tensor_value_info(F0_OUTPUT, TensorProto.FLOAT, None))
    serialized: bytes = model.SerializeToString()
    return serialized


TIMBRE_OFFSETS_INPUT = "timbre_offsets"
TIMBRE_SOURCE = "/decoder/Slice_output_0"
"""The timbre half of the style, (1, 128), as the decoder reads it (quantised once)."""


def _style_layers(graph: Any) -> list[str]:
    """The decoder's style layers, in graph order: each reads the timbre half through
    its own ``fc`` (named ``<layer>/fc/...``)."""
    readers = _timbre_readers(graph, _timbre_quantisation(graph))
    return list(dict.fromkeys(_layer_of(node) for node in readers))


def _timbre_readers(graph: Any, quantisation: Any) -> list[Any]:
    return [node for node in graph.node if set(node.input) & set(quantisation.output)]


def _layer_of(reader: Any) -> str:
    return str(reader.name).rsplit("/fc/", 1)[0]


def add_timbre_offsets(model_bytes: bytes) -> bytes:
    """The model with input ``timbre_offsets``: per style layer, added to the timbre half.

    Each layer quantises its own sum, as the stock graph quantises the shared half once:
    with zero offsets every layer reads exactly what it read before.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    shared = _timbre_quantisation(graph)
    layers = _style_layers(graph)
    prefix = "/timbre_offsets/"
    zeros = np.zeros((len(layers), DECODER_DIMS), np.float32)
    graph.initializer.append(numpy_helper.from_array(zeros, TIMBRE_OFFSETS_INPUT))
    graph.input.append(helper.make_tensor_value_info(
        TIMBRE_OFFSETS_INPUT, TensorProto.FLOAT, [len(layers), DECODER_DIMS]))
    moved = prefix + "moved"
    # added before the rows are picked, so the new nodes all read the timbre (a decoder cut)
    nodes = [helper.make_node("Add", [TIMBRE_SOURCE, TIMBRE_OFFSETS_INPUT], [moved])]
    owns: dict[str, list[str]] = {}
    for index, layer in enumerate(layers):
        row, picked = f"{prefix}index{index}", f"{prefix}row{index}"
        graph.initializer.append(numpy_helper.from_array(np.array([index], np.int64), row))
        nodes.append(helper.make_node("Gather", [moved, row], [picked], axis=0))
        owns[layer] = [f"{prefix}{part}{index}" for part in ("quantised", "scale", "zero_point")]
        nodes.append(helper.make_node("DynamicQuantizeLinear", [picked], owns[layer]))
    shared_names = list(shared.output)
    for node in _timbre_readers(graph, shared):
        for position, name in enumerate(node.input):
            if name in shared_names:
                node.input[position] = owns[_layer_of(node)][shared_names.index(name)]
    position = list(graph.node).index(shared)
    graph.node.remove(shared)  # every reader now has its own
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)
    serialized: bytes = model.SerializeToString()
    return serialized


def timbre_layer_count(model: Any) -> int:
    """Rows of a graph's ``timbre_offsets`` input (see :func:`add_timbre_offsets`)."""
    for tensor in model.graph.initializer:
        if tensor.name == TIMBRE_OFFSETS_INPUT:
            return int(tensor.dims[0])
    raise EngineError("unexpected Kokoro graph: no timbre offsets")


def _timbre_quantisation(graph: Any) -> Any:
    found = [node for node in graph.node
             if node.op_type == "DynamicQuantizeLinear" and node.input[0] == TIMBRE_SOURCE]
    if len(found) != 1:
        raise EngineError("unexpected Kokoro graph: timbre quantisation not found")
    return found[0]


def pitch_inputs(shift: float, spread: float) -> dict[str, Any]:
    """Model inputs for a pitch shift (log ratio) and range, clamped to sane limits."""
    shift = float(np.clip(shift, -MAX_SHIFT, MAX_SHIFT))
    spread = float(np.clip(spread, *RANGE_LIMITS))
    return {
        PITCH_SHIFT_INPUT: np.array([shift], dtype=np.float32),
        PITCH_RANGE_INPUT: np.array([spread], dtype=np.float32),
    }


def voice_inputs(voice: VoiceState, tonal: bool = False) -> dict[str, Any] | None:
    """The control inputs a matched voice asks for; None for a stock voice (the graph's
    defaults are the stock model). ``tonal`` speech (Chinese) keeps at least
    :data:`TONAL_MIN_RANGE` of the model's pitch range."""
    shift = float(voice.info.get("pitch_shift", 0.0))
    spread = float(voice.info.get("pitch_range", 1.0))
    if tonal:
        spread = max(spread, TONAL_MIN_RANGE)
    offsets = voice.arrays.get(TIMBRE_OFFSETS_INPUT)
    if shift == 0.0 and spread == 1.0 and offsets is None:
        return None
    return control_inputs(shift, spread, offsets)


def control_inputs(shift: float, spread: float,
                   timbre_offsets: FloatAudio | None = None) -> dict[str, Any]:  # fmt: skip
    """Model inputs for a pitch shift and range (see :func:`pitch_inputs`) and, when
    given, per-layer timbre offsets."""
    inputs = pitch_inputs(shift, spread)
    if timbre_offsets is not None:
        inputs[TIMBRE_OFFSETS_INPUT] = np.asarray(timbre_offsets, np.float32)
    return inputs


EQ_TAPS = 511


def eq_filter(band_gains_db: FloatAudio, sample_rate: int) -> FloatAudio:
    """Linear-phase FIR whose response follows ``band_gains_db`` on the analysis bands.

    The gains are given at the centres of as many mel bands up to 8 kHz (see
    :func:`~breathvoice.matching.analysis.band_spectrum`; voices matched by earlier
    versions have fewer); above the last centre the last gain holds.
    """
    gains = np.clip(np.asarray(band_gains_db, dtype=np.float64), -EQ_LIMIT_DB, EQ_LIMIT_DB)
    edges = np.linspace(_hz_to_mel(0.0), _hz_to_mel(SPECTRUM_RATE / 2), len(gains) + 2)
    centres = np.array([_mel_to_hz(m) for m in edges[1:-1]])
    freqs = np.fft.rfftfreq(EQ_TAPS + 1, 1.0 / sample_rate)
    response = 10 ** (np.interp(freqs, centres, gains) / 20)
    taps = np.fft.irfft(response)
    taps = np.roll(taps, EQ_TAPS // 2)[:EQ_TAPS] * np.hanning(EQ_TAPS)
    result: FloatAudio = taps.astype(np.float32)
    return result


def apply_colour(samples: FloatAudio, sample_rate: int, voice: VoiceState) -> FloatAudio:
    """A matched voice's tone correction and loudness, applied to synthesised audio."""
    audio = np.asarray(samples, dtype=np.float32)
    gains = voice.arrays.get("eq")
    if gains is not None and len(audio):
        taps = eq_filter(gains, sample_rate)
        size = len(audio) + len(taps) - 1
        n = 1 << (size - 1).bit_length()
        filtered = np.fft.irfft(np.fft.rfft(audio, n) * np.fft.rfft(taps, n), n)
        audio = filtered[len(taps) // 2 : len(taps) // 2 + len(audio)].astype(np.float32)
    gain_db = float(voice.info.get("gain_db", 0.0))
    if gain_db:
        audio = audio * np.float32(10 ** (gain_db / 20))
    result: FloatAudio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    return result


def _hz_to_mel(hz: float) -> float:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    if hz >= min_log_hz:
        return float(min_log_hz / f_sp + np.log(hz / min_log_hz) / (np.log(6.4) / 27.0))
    return hz / f_sp


def _mel_to_hz(mel: float) -> float:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    if mel >= min_log_hz / f_sp:
        return float(min_log_hz * np.exp(np.log(6.4) / 27.0 * (mel - min_log_hz / f_sp)))
    return f_sp * mel

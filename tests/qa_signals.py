"""Synthetic takes for the QA detectors: speech-like syllables, silence, tones."""

from __future__ import annotations

import numpy as np

RATE = 24000


def syllables(seconds: float, level_db: float = -16.0, rate: int = RATE,
              seed: int = 0) -> np.ndarray:
    """Voiced 200 ms syllables (a 150 Hz buzz with harmonics) and 50 ms gaps, at a peak
    level of ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * 150 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    phase = np.minimum(t % 0.25, 0.2) / 0.2
    envelope = ((t % 0.25) < 0.2) * np.sin(np.pi * phase) ** 0.5
    take = buzz * envelope
    return (take / np.max(np.abs(take)) * 10 ** (level_db / 20)).astype(np.float32)


def silence(seconds: float, rate: int = RATE, noise_db: float | None = None) -> np.ndarray:
    size = int(seconds * rate)
    if noise_db is None:
        return np.zeros(size, np.float32)
    noise = np.random.default_rng(1).standard_normal(size) * 10 ** (noise_db / 20)
    return noise.astype(np.float32)


def sine(seconds: float, frequency: float, level_db: float, rate: int,
         phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (10 ** (level_db / 20) * np.sin(2 * np.pi * frequency * t + phase)).astype(np.float32)

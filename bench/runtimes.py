"""The engine on onnxruntime and on OpenVINO: speed, and whether it still says the same.

Both runtimes run the same graph (OpenVINO with its integer convolutions in bfloat16, see
``breathvoice.engines.kokoro.openvino_session``), loaded side by side in one process and
timed in turns:
- the first chunk of the benches' Chinese and English first sentences, as a stream asks
  for it (median of the rounds);
- compute seconds per audio second over the held-out sentences of the matching bench,
  12 per language, spoken whole by the default voice;
- intelligibility: Whisper base (beam 5) character / word error rate on those renders,
  as ``bench/fidelity.py`` scores a cell;
- how far apart the two renders of each sentence are: length, the mean log-mel
  distance (80 bands, dB) after aligning the frames (the duration predictor may round a
  phoneme one frame the other way), and the largest difference in mean level of the
  speech in any 750 Hz band (timbre).

    .venv/bin/python bench/runtimes.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "voice_matching"))
from asr import Transcriber, errors  # noqa: E402
from common import FIRST_SENTENCES, engine_first_chunk, load_average  # noqa: E402
from references import TEXTS  # noqa: E402

from audio_checks import band_levels  # noqa: E402  (tests/, on the path from common)
from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.kokoro.engine import KokoroEngine  # noqa: E402
from breathvoice.engines.speaker import slaney_mel_filters  # noqa: E402

RATE = 24000
RUNTIMES = ("onnxruntime", "openvino")


def log_mel(samples: np.ndarray) -> np.ndarray:
    """80-band log-mel frames (dB) of 1024-sample windows every 256 samples."""
    n_fft, hop = 1024, 256
    padded = np.pad(samples, (0, max(0, n_fft - len(samples))))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = power @ slaney_mel_filters(RATE, n_fft, 80).T
    return np.asarray(10 * np.log10(np.maximum(mel, 1e-10)))


def aligned_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute dB difference of the frames of ``a`` and ``b`` along the cheapest
    monotonic alignment (dynamic time warping), over the frames with sound (> -60 dB)."""
    ma, mb = log_mel(a), log_mel(b)
    floor = max(ma.max(), mb.max()) - 60
    ma, mb = np.maximum(ma, floor), np.maximum(mb, floor)
    cost = np.abs(ma[:, None, :] - mb[None, :, :]).mean(axis=2)
    total = np.full((len(ma) + 1, len(mb) + 1), np.inf)
    total[0, 0] = 0.0
    steps = np.zeros_like(total)
    for i in range(1, len(ma) + 1):
        for j in range(1, len(mb) + 1):
            best = min((total[i - 1, j - 1], steps[i - 1, j - 1]), (total[i - 1, j],
                       steps[i - 1, j]), (total[i, j - 1], steps[i, j - 1]))  # fmt: skip
            total[i, j], steps[i, j] = best[0] + cost[i - 1, j - 1], best[1] + 1
    return float(total[-1, -1] / steps[-1, -1])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    engines = {name: KokoroEngine(runtime=name) for name in RUNTIMES}
    for name, engine in engines.items():
        print(f"{name}: loaded in {engine.load_seconds:.1f} s (runs on {engine.model.runtime})")
    print(f"load average {load_average()}")
    firsts: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds + 1):  # the first round warms up
        for lang, text in FIRST_SENTENCES.items():
            for name, engine in engines.items():
                _, seconds = engine_first_chunk(engine, text, engine.default_voice())
                firsts.setdefault((name, lang), []).append(seconds)
    for (name, lang), values in firsts.items():
        print(f"first chunk, {lang}, {name}: median {statistics.median(values[1:]):.3f} s")
    asr = Transcriber()
    for lang in ("zh", "en"):
        texts = TEXTS[lang]["held_out"]
        renders: dict[str, list[np.ndarray]] = {name: [] for name in RUNTIMES}
        compute = dict.fromkeys(RUNTIMES, 0.0)
        for text in texts:
            for name, engine in engines.items():
                started = time.perf_counter()
                chunks = engine.synthesize(text, engine.default_voice(),
                                           SynthesisOptions(language=lang))
                renders[name].append(np.concatenate([c.samples for c in chunks]))
                compute[name] += time.perf_counter() - started
        for name in RUNTIMES:
            audio = sum(len(r) for r in renders[name]) / RATE
            counts = [errors(t, asr.transcribe(r, RATE, lang), lang)
                      for t, r in zip(texts, renders[name], strict=True)]  # fmt: skip
            rate = 100 * sum(e for e, _ in counts) / max(1, sum(n for _, n in counts))
            print(f"{lang}, {name}: {audio:.1f} s of audio, {compute[name] / audio:.3f} compute s"
                  f" per audio s, error {rate:.1f} %")
        pairs = list(zip(*renders.values(), strict=True))
        distances = [aligned_distance(a, b) for a, b in pairs]
        lengths = [len(b) / len(a) for a, b in pairs]
        bands = [float(np.abs(band_levels(b) - band_levels(a)).max()) for a, b in pairs]
        print(f"{lang}: onnxruntime vs openvino, log-mel distance per sentence median "
              f"{statistics.median(distances):.2f} dB (max {max(distances):.2f}); largest band "
              f"difference median {statistics.median(bands):.1f} dB (max {max(bands):.1f});"
              f" length ratio {min(lengths):.3f}-{max(lengths):.3f}")
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()

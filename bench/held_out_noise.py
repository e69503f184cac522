"""How precise one cell of ``bench/fidelity.py`` is: the held-out error of unchanged voices.

Every stock voice speaks the fidelity bench's held-out sentences in both languages at
speed 1 and at speeds a listener does not tell apart from it (0.97 and 1.03 by default),
and each set is heard and scored exactly as the fidelity bench scores a cell (Whisper base
through the product's recogniser, beam 5; CER for zh, WER for en, pooled over the
sentences). The voice is the same in every column, so how far its error moves between
columns is what one cell's "error against stock" can show at best: a rise smaller than
that spread is not a finding about a voice.

Prints one row per language and voice: the errors (%) at each speed and their spread.

    .venv/bin/python bench/held_out_noise.py [speed ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "voice_matching"))

from asr import Transcriber  # noqa: E402
from controlled import ControlledKokoroEngine  # noqa: E402
from fidelity import LANGUAGES, RATE, error, speak  # noqa: E402
from references import TEXTS  # noqa: E402

from breathvoice.engines.base import VoiceState  # noqa: E402

SPEEDS = (1.0, 0.97, 1.03)


def main() -> None:
    speeds = tuple(float(s) for s in sys.argv[1:]) or SPEEDS
    began = time.perf_counter()
    engine = ControlledKokoroEngine(onnx_threads=0)
    asr = Transcriber(threads=1)
    print(
        "| lang | voice | "
        + " | ".join(f"error % at speed {s:g}" for s in speeds)
        + " | spread (points) |"
    )
    print("|---" * (len(speeds) + 3) + "|")
    for language in LANGUAGES:
        texts = tuple(str(t) for t in TEXTS[language]["held_out"])
        for name, voice in engine.stock_voices().items():
            rates = []
            for speed in speeds:
                paced = VoiceState(voice.engine, voice.arrays, {**voice.info, "speed": speed})
                pieces = [speak(engine, text, paced, language) for text in texts]
                rates.append(100 * error(asr, texts, pieces, RATE, language))
            print(
                f"| {language} | {name} | "
                + " | ".join(f"{r:.1f}" for r in rates)
                + f" | {max(rates) - min(rates):.1f} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - began:.0f} s wall")


if __name__ == "__main__":
    main()

"""Raw Kokoro engine speed: load time, time to first chunk and real-time factor.

One run, in one process, one synthesis at a time: loads the engine, warms it up on a
short sentence, then for a fixed Chinese and a fixed English text (a few sentences each)
times the first chunk with ``early_first_chunk`` on (what a streaming client waits for)
and the whole text. RTF = synthesis time / audio duration (below 1 is faster than
real time). CPU RTF = process CPU time / audio duration: it does not depend on what else
runs on the machine (wall-clock figures on a shared machine do). Prints a plain text table,
then the CPU time of one model call by its length in phonemes (best of the rounds): what
a first chunk of that length costs.
"""

from __future__ import annotations

import os
import time

from breathvoice.engines.base import SynthesisOptions
from breathvoice.engines.kokoro.engine import WARM_UP_TEXT, KokoroEngine

TEXTS = {
    "zh": (
        "欢迎使用我们的语音服务。今天的天气很好，适合出去散步。"
        "我们会在下午三点开会，请大家准时参加。如果有任何问题，请随时联系我们。"
    ),
    "en": (
        "Welcome to our voice service. The weather is lovely today, perfect for a walk. "
        "We will meet at three in the afternoon, so please be on time. "
        "If you have any questions, feel free to contact us."
    ),
}
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CALL_TOKENS = (5, 10, 20, 40, 80, 120)


def measure(engine: KokoroEngine, text: str) -> tuple[float, float, float, float]:
    """Seconds to the first chunk, for the whole text, of CPU, and of audio."""
    voice = engine.default_voice()
    cpu = time.process_time()
    started = time.perf_counter()
    first = 0.0
    audio_seconds = 0.0
    for chunk in engine.synthesize(text, voice, SynthesisOptions(early_first_chunk=True)):
        if not first:
            first = time.perf_counter() - started
        audio_seconds += chunk.duration
    return first, time.perf_counter() - started, time.process_time() - cpu, audio_seconds


def main() -> None:
    threads = int(os.environ.get("BREATHVOICE_ONNX_THREADS", "0"))
    started = time.perf_counter()
    engine = KokoroEngine(onnx_threads=threads)
    load = time.perf_counter() - started
    list(engine.synthesize("你好。Hello.", engine.default_voice(), SynthesisOptions()))

    print(f"Kokoro engine: load {load:.2f} s (model session {engine.load_seconds:.2f} s), "
          f"onnx_threads={threads or 'default'}, {os.cpu_count()} CPUs, best of {ROUNDS}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'text':<6}{'chars':>7}{'audio s':>9}{'first chunk s':>15}{'total s':>9}"
          f"{'RTF':>7}{'CPU RTF':>9}")
    for language, text in TEXTS.items():
        runs = [measure(engine, text) for _ in range(ROUNDS)]
        first = min(run[0] for run in runs)
        total = min(run[1] for run in runs)
        cpu = min(run[2] for run in runs)
        audio = runs[0][3]
        print(f"{language:<6}{len(text):>7}{audio:>9.2f}{first:>15.2f}{total:>9.2f}"
              f"{total / audio:>7.2f}{cpu / audio:>9.2f}")

    print(f"{'tokens':>8}{'audio s':>9}{'CPU s':>8}")
    text = WARM_UP_TEXT * 4
    spans = engine._phonemizer.phonemize(text, 0, len(text), "en")
    ids = [engine.model.vocab[p] for span in spans for p in span.phonemes]
    style = engine.model.voices["jf_alpha"]
    for tokens in CALL_TOKENS:
        best, audio = float("inf"), 0.0
        for _ in range(ROUNDS):
            cpu = time.process_time()
            samples, _ = engine.model.run(ids[:tokens], style, 1.0)
            best, audio = min(best, time.process_time() - cpu), len(samples) / 24000
        print(f"{tokens:>8}{audio:>9.2f}{best:>8.2f}")


if __name__ == "__main__":
    main()

"""What a stream's chunk plan costs: CPU seconds per audio second, by how text is cut.

Speaks the socket bench's texts (its five short throughput sentences and its two long
first sentences) with the real engine, one at a time, in three plans taken in turns:

  - whole: one model call per sentence (what the classic policy does when saturated);
  - first cut: the stream's short first chunk, then the rest of the sentence;
  - ramped: the first chunk, a second one cut with bounds ``RAMP`` times as long, then
    the rest (what the responsive policy does for a new stream).

Prints, per plan, the model calls made and the process CPU seconds per audio second
(median of the rounds, each round's figure beside it). CPU time, unlike wall time, hardly
depends on what else runs on the machine. With ``threads`` 1 and 2 (the default runs
both) the same is done on a session with one and with two intra-op threads.

    .venv/bin/python bench/chunk_cost.py [rounds] [threads ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIRST_SENTENCES, THROUGHPUT_TEXTS, load_average  # noqa: E402

from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.kokoro import first_chunk  # noqa: E402
from breathvoice.engines.kokoro.engine import KokoroEngine  # noqa: E402

TEXTS = [*THROUGHPUT_TEXTS, *FIRST_SENTENCES.values()]


def first_cut_only(text: str, start: int, end: int) -> list[int]:
    cut = first_chunk.short_first_cut(text, start, end)
    return [] if cut is None else [cut]


PLANS = {
    "whole": (False, None),
    "first cut": (True, first_cut_only),
    "ramped": (True, first_chunk.ramped_cuts),
}


def cost(engine: KokoroEngine, plan: str) -> tuple[int, float]:
    """Model calls made and CPU seconds per audio second, for every text in ``plan``."""
    early, cut = PLANS[plan]
    engine._early_cut = cut  # the engine's own cut rule, swapped for this plan
    voice = engine.default_voice()
    options = SynthesisOptions(early_first_chunk=early, bounded_chunks=early)
    calls, cpu, audio = 0, 0.0, 0.0
    for text in TEXTS:
        started = time.process_time()
        chunks = list(engine.synthesize(text, voice, options))
        cpu += time.process_time() - started
        calls += len(chunks)
        audio += sum(chunk.duration for chunk in chunks)
    return calls, cpu / audio


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    thread_counts = [int(arg) for arg in sys.argv[2:]] or [1, 2]
    print(f"load average at start: {load_average()}; {rounds} rounds")
    for threads in thread_counts:
        engine = KokoroEngine(onnx_threads=threads)
        list(engine.synthesize(TEXTS[0], engine.default_voice(), SynthesisOptions()))
        figures: dict[str, list[float]] = {plan: [] for plan in PLANS}
        calls: dict[str, int] = {}
        for _ in range(rounds):
            for plan in PLANS:
                calls[plan], per_second = cost(engine, plan)
                figures[plan].append(per_second)
        whole = statistics.median(figures["whole"])
        for plan, values in figures.items():
            median = statistics.median(values)
            each = " ".join(f"{value:.3f}" for value in values)
            print(f"{threads} thread(s)  {plan:<10} {calls[plan]:3d} calls  CPU s per audio s "
                  f"{median:.3f} (over whole {median / whole:.2f}; rounds {each})")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()

"""The floor under first audio at 4 streams: four first chunks on the raw engine, no server.

The socket and HTTP benches start four streams at once (two Chinese and two English first
sentences). Here the engine alone makes the same four first chunks (the stream's short
first cut, as the responsive policy asks for) with one and with two threads calling it
at once, as a server with one or two synthesis workers would; the session's intra-op
threads are the default (one per core). The engine runs on ``BREATHVOICE_ENGINE_RUNTIME``
(onnxruntime unless set). Prints, per round, when each chunk was ready and
the median, then the median over rounds and the p90 over every round's chunks (as
``bench/ws.py`` and ``bench/openai_ttfb.py`` take it): no scheduler can bring four
streams' first audio below what the engine takes to make their first chunks.

    [BREATHVOICE_ENGINE_RUNTIME=openvino] .venv/bin/python bench/first_chunks.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIRST_SENTENCES, engine_first_chunk, load_average, p90  # noqa: E402

from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.kokoro.engine import KokoroEngine  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402

TEXTS = [FIRST_SENTENCES["zh"], FIRST_SENTENCES["en"]] * 2
OPTIONS = SynthesisOptions(early_first_chunk=True, bounded_chunks=True)


def ready_times(engine: KokoroEngine, callers: int) -> list[float]:
    """Seconds from the start until each of the four first chunks was made."""
    queue, lock, ready = list(TEXTS), threading.Lock(), []
    started = time.perf_counter()

    def call() -> None:
        while True:
            with lock:
                if not queue:
                    return
                text = queue.pop(0)
            engine_first_chunk(engine, text, engine.default_voice(), OPTIONS)
            ready.append(time.perf_counter() - started)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(ready)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engine = KokoroEngine(runtime=Settings().engine_runtime)
    for text in TEXTS[:2]:
        chunk, _ = engine_first_chunk(engine, text, engine.default_voice(), OPTIONS)
        print(f"first chunk {chunk.text!r}: {chunk.duration:.2f} s of audio")
    print(f"load average {load_average()}")
    medians: dict[int, list[float]] = {1: [], 2: []}
    pooled: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for callers in (2, 1):
            ready = ready_times(engine, callers)
            medians[callers].append(statistics.median(ready))
            pooled[callers] += ready
            print(
                f"{callers} at once: ready at "
                + ", ".join(f"{s:.2f}" for s in ready)
                + f" s; median {medians[callers][-1]:.2f} s",
                flush=True,
            )
    for callers, values in medians.items():
        print(f"{callers} at once: median of rounds {statistics.median(values):.2f} s; "
              f"p90 of every chunk, as the server benches take it, {p90(pooled[callers]):.2f} s")
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()

"""onnxruntime session options for the Kokoro engine: which ones pay on this machine.

Builds one engine per variant of the session options (the served graph is built once and
shared) and measures, for each, in turns (ABAB...) so drift on a shared machine hits all
variants alike:

  - first chunk: the engine's short first chunk of the bench's English sentence with no
    punctuation and its long Chinese one, one request alone (what one caller waits for);
  - throughput: short sentences spoken on as many threads as the server has engine
    workers (2 by default), as the server does under load: audio seconds per wall second
    and CPU seconds per audio second.

Each figure is the median over rounds, printed beside its ratio to the server's current
options ("current"). A few minutes on 2 cores.

    .venv/bin/python bench/onnx_options.py [workers] [rounds]
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIRST_SENTENCES, engine_first_chunk  # noqa: E402

from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.kokoro import model as kokoro_model  # noqa: E402
from breathvoice.engines.kokoro.engine import KokoroEngine  # noqa: E402

TEXTS = [
    "今天天气很好，我们去散步吧。", "请您稍等，我马上为您查询。",
    "Thank you for calling, I can check the status of your order right away.",
    "The weather is lovely today, perfect for a walk in the park.",
]
current = kokoro_model.session_options
Change = Callable[[Any], None]


def _set(**values: Any) -> Change:
    def change(options: Any) -> None:
        for name, value in values.items():
            setattr(options, name, value)
    return change


def _entry(key: str, value: str) -> Change:
    return lambda options: options.add_session_config_entry(key, value)


def _level(name: str) -> Change:
    ort = kokoro_model.import_onnxruntime()
    return _set(graph_optimization_level=getattr(ort.GraphOptimizationLevel, name))


def _parallel(threads: int) -> Change:
    ort = kokoro_model.import_onnxruntime()
    return _set(execution_mode=ort.ExecutionMode.ORT_PARALLEL, inter_op_num_threads=threads)


VARIANTS: dict[str, tuple[int, Change | None]] = {
    "current": (0, None),
    "intra_op 1 thread": (1, None),
    "intra_op 2 threads": (2, None),
    "spinning on": (0, _entry("session.intra_op.allow_spinning", "1")),
    "no memory arena": (0, _set(enable_cpu_mem_arena=False)),
    "memory pattern on": (0, _set(enable_mem_pattern=True)),
    "basic graph optimisation": (0, _level("ORT_ENABLE_BASIC")),
    "extended graph optimisation": (0, _level("ORT_ENABLE_EXTENDED")),
    "parallel execution, 2 inter-op": (0, _parallel(2)),
}


def build(threads: int, change: Change | None) -> KokoroEngine:
    """An engine whose session options are the current ones with ``change`` made."""

    def options(ort: Any, onnx_threads: int) -> Any:
        made = current(ort, onnx_threads)
        if change is not None:
            change(made)
        return made

    kokoro_model.session_options = options
    try:
        return KokoroEngine(onnx_threads=threads)
    finally:
        kokoro_model.session_options = current


def first_chunk(engine: KokoroEngine, text: str) -> float:
    return engine_first_chunk(engine, text, engine.default_voice())[1]


def rate(engine: KokoroEngine, workers: int) -> tuple[float, float]:
    voice = engine.default_voice()

    def speak(text: str) -> float:
        return sum(c.duration for c in engine.synthesize(text, voice, SynthesisOptions()))

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        seconds = sum(pool.map(speak, TEXTS))
    return seconds / (time.perf_counter() - start), (time.process_time() - cpu) / seconds


def measure(engine: KokoroEngine, workers: int) -> dict[str, float]:
    figures = {f"first {lang}": first_chunk(engine, text)
               for lang, text in FIRST_SENTENCES.items()}
    figures["audio-s/s"], figures["CPU s/audio s"] = rate(engine, workers)
    return figures


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    kokoro_model.served_graph = functools.cache(kokoro_model.served_graph)
    engines = {}
    for name, (threads, change) in VARIANTS.items():
        engines[name] = build(threads, change)
        measure(engines[name], workers)  # warm up
    results: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            results[name].append(measure(engine, workers))
    print(f"{rounds} rounds, medians; first chunks one request alone, throughput on"
          f" {workers} threads at once; (ratio to current)")
    keys = list(results["current"][0])
    base = {key: statistics.median(r[key] for r in results["current"]) for key in keys}
    print(f"{'variant':<32}" + "".join(f"{key:>20}" for key in keys))
    for name, runs in results.items():
        cells = []
        for key in keys:
            value = statistics.median(r[key] for r in runs)
            shown = f"{value * 1000:.0f} ms" if key.startswith("first") else f"{value:.2f}"
            cells.append(f"{shown} ({value / base[key]:.2f})")
        print(f"{name:<32}" + "".join(f"{cell:>20}" for cell in cells))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

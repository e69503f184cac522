"""onnxruntime session options for the Kokoro engine: which ones pay on this machine.

Builds one engine per variant of the session options and, for each, speaks the same
sentences on as many threads as the server has engine workers (2 by default), as the
server does under load. Variants take turns (ABAB...) so drift on a shared machine hits
all alike. Prints each variant's audio seconds per wall second and CPU seconds per audio
second, relative to the server's current options ("current").

    .venv/bin/python bench/onnx_options.py [workers] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from breathvoice.engines.base import SynthesisOptions
from breathvoice.engines.kokoro import model as kokoro_model
from breathvoice.engines.kokoro.engine import KokoroEngine

TEXTS = [
    "今天天气很好，我们去散步吧。", "这个周末我想在家里休息。", "请您稍等，我马上为您查询。",
    "Thank you for calling, I can check the status of your order right away.",
    "The weather is lovely today, perfect for a walk in the park.",
    "谢谢您的耐心，订单已经发货了。",
]
current = kokoro_model.session_options


def variant(change: Callable[[Any], None]) -> Callable[[Any, int], Any]:
    def options(ort: Any, threads: int) -> Any:
        made = current(ort, threads)
        change(made)
        return made
    return options


def _set(**values: Any) -> Callable[[Any], None]:
    def change(options: Any) -> None:
        for name, value in values.items():
            setattr(options, name, value)
    return change


def _entry(key: str, value: str) -> Callable[[Any], None]:
    return lambda options: options.add_session_config_entry(key, value)


VARIANTS: dict[str, tuple[int, Callable[[Any], None] | None]] = {
    "current": (0, None),
    "intra_op 1 thread": (1, None),
    "intra_op 2 threads": (2, None),
    "spinning on": (0, _entry("session.intra_op.allow_spinning", "1")),
    "no memory arena": (0, _set(enable_cpu_mem_arena=False)),
    "basic graph optimisation": (0, lambda o: setattr(
        o, "graph_optimization_level", kokoro_model.import_onnxruntime()
        .GraphOptimizationLevel.ORT_ENABLE_BASIC)),
}


def rate(engine: KokoroEngine, workers: int) -> tuple[float, float]:
    voice = engine.default_voice()

    def speak(text: str) -> float:
        return sum(c.duration for c in engine.synthesize(text, voice, SynthesisOptions()))

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        seconds = sum(pool.map(speak, TEXTS * 2))
    return seconds / (time.perf_counter() - start), (time.process_time() - cpu) / seconds


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    engines = {}
    for name, (threads, change) in VARIANTS.items():
        kokoro_model.session_options = variant(change) if change else current
        engines[name] = KokoroEngine(onnx_threads=threads)
        rate(engines[name], workers)  # warm up
    kokoro_model.session_options = current
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            results[name].append(rate(engine, workers))
    base = statistics.median(r[0] for r in results["current"])
    print(f"{workers} threads speaking at once, {rounds} rounds, medians")
    print(f"{'variant':<28}{'audio-s/s':>10}{'vs current':>12}{'CPU s/audio s':>15}")
    for name, runs in results.items():
        speed = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{name:<28}{speed:>10.2f}{speed / base:>12.2f}{cpu:>15.3f}")


if __name__ == "__main__":
    main()

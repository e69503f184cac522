"""Script jobs: throughput against the raw engine, and live sockets while a job runs.

Starts a real server (default engine and settings, its own temporary data folder) and
loads the same engine, with the same voice, in this process (see ``common.py``). Prints:

  1. a 200-line job's audio seconds per wall second (from submission until every line is
     rendered; the takes' QA checks run beside at a low priority and may finish later),
     over the raw engine's on the same lines (2 threads, like the job's 2 lines at once)
                                                                         target >= 0.90
  2. WebSocket time to first audio (the long Chinese first sentence and the English one
     with no punctuation, in turns) while a job runs in the background, over the same
     with the server idle                                                target <= 1.30

    .venv/bin/python bench/jobs.py [--lines 200] [--background-lines 60] [--rounds 6]
    (several minutes on 2 idle cores)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THROUGHPUT_TEXTS, load_average, served, socket_firsts  # noqa: E402

from breathvoice.engines.base import Engine, SynthesisOptions, VoiceState  # noqa: E402


def script(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"text": THROUGHPUT_TEXTS[i % len(THROUGHPUT_TEXTS)],
             "filename": f"{prefix}{i:03d}_greeting.wav", "voice_group_id": "Demo"}
            for i in range(n)]


def raw_rate(engine: Engine, voice: VoiceState, texts: list[str], threads: int) -> float:
    def speak(text: str) -> float:
        return sum(c.duration for c in engine.synthesize(text, voice, SynthesisOptions()))

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        seconds = sum(pool.map(speak, texts))
    return seconds / (time.perf_counter() - start)


def submit(base: str, lines: list[dict[str, Any]]) -> str:
    answer = requests.post(f"{base}/breathvoice/jobs", json={"lines": lines}, timeout=60)
    answer.raise_for_status()
    job_id: str = answer.json()["job_id"]
    return job_id


def job_state(base: str, job_id: str) -> dict[str, Any]:
    state: dict[str, Any] = requests.get(f"{base}/breathvoice/jobs/{job_id}", timeout=30).json()
    return state


def wait_job(base: str, job_id: str) -> dict[str, Any]:
    while (job := job_state(base, job_id))["status"] not in ("completed", "failed",
                                                             "cancelled"):
        time.sleep(0.2)
    return job


def wait_rendered(base: str, job_id: str) -> None:
    """Until every line has its take (the takes' QA checks may still run beside)."""
    while True:
        page = requests.get(f"{base}/breathvoice/jobs/{job_id}/lines",
                            params={"limit": 1000}, timeout=30).json()
        if all(line["takes"] or line["status"] == "failed" for line in page["lines"]):
            return
        time.sleep(0.5)


def audio_seconds(base: str, job_id: str) -> float:
    page = requests.get(f"{base}/breathvoice/jobs/{job_id}/lines",
                        params={"limit": 1000}, timeout=30).json()
    return sum(t["duration"] for line in page["lines"] for t in line["takes"])


def firsts(ws_base: str, rounds: int) -> list[float]:
    times = asyncio.run(socket_firsts(ws_base, 1, rounds))
    return times["zh"] + times["en"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200, help="lines of the measured job")
    parser.add_argument("--background-lines", type=int, default=60,
                        help="lines of the job running while sockets are timed")
    parser.add_argument("--rounds", type=int, default=6, help="socket timings each way")
    args = parser.parse_args()
    print(f"load average at start: {load_average()}")
    with served() as setup:
        base, engine, voice = setup.server.base_url, setup.engine, setup.voice
        lines = script(args.lines, "line")
        texts = [line["text"] for line in lines]
        raw_rate(engine, voice, texts[:4], 2)  # warm up
        raw = raw_rate(engine, voice, texts, 2)
        start = time.perf_counter()
        job_id = submit(base, lines)
        wait_rendered(base, job_id)
        job_rate = audio_seconds(base, job_id) / (time.perf_counter() - start)
        job = wait_job(base, job_id)  # and checked
        assert job["request_counts"]["completed"] == args.lines, job
        print(f"1. {args.lines}-line job: {job_rate:.2f} audio s per wall s; raw engine "
              f"{raw:.2f}; ratio {job_rate / raw:.2f} (target >= 0.90)")

        idle = firsts(setup.server.ws_url, args.rounds)
        background = submit(base, script(args.background_lines, "bg"))
        while job_state(base, background)["status"] == "queued":
            time.sleep(0.1)
        busy = firsts(setup.server.ws_url, args.rounds)
        during = job_state(base, background)
        requests.post(f"{base}/breathvoice/jobs/{background}/cancel", timeout=30)
        ratio = statistics.median(busy) / statistics.median(idle)
        print(f"2. TTFA ms idle: {' '.join(f'{t * 1000:.0f}' for t in idle)}; with a job "
              f"running: {' '.join(f'{t * 1000:.0f}' for t in busy)} (job still "
              f"{during['status']}, {during['request_counts']['completed']} lines done); "
              f"median ratio {ratio:.2f} (target <= 1.30)")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()

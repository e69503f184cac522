"""Script jobs: throughput against the raw engine, and live sockets while a job runs.

Starts a real server (default engine and settings, its own temporary data folder) and
loads the same engine, with the same voice, in this process. Prints:

  1. a 200-line job's audio seconds per wall second (from submission until every line is
     rendered; the takes' QA checks run beside at a low priority and may finish later),
     over the raw engine's on the same lines (2 threads, like the job's 2 lines at once)
                                                                         target >= 0.90
  2. WebSocket time to first audio (bench/ws.py's first sentence, early clause cut) while
     a job runs in the background, over the same with the server idle   target <= 1.30

    .venv/bin/python bench/jobs.py   (several minutes on 2 idle cores; BENCH_JOB_LINES and
    BENCH_BACKGROUND_LINES make it shorter)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))
from ws import FIRST_SENTENCE, THROUGHPUT_TEXTS, Socket  # noqa: E402

from breathvoice.engines.base import Engine, SynthesisOptions, VoiceState  # noqa: E402
from breathvoice.engines.registry import load_engine  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402
from breathvoice.voices.library import VoiceLibrary  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402

JOB_LINES = int(os.environ.get("BENCH_JOB_LINES", "200"))
BACKGROUND_LINES = int(os.environ.get("BENCH_BACKGROUND_LINES", "80"))
TTFA_ROUNDS = 5


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


async def ttfa(ws_base: str, rounds: int, gap: float = 0.0) -> list[float]:
    socket = await Socket.open(ws_base)
    times = []
    for i in range(rounds):
        context = f"c{time.monotonic_ns()}-{i}"
        sent = await socket.send(text=FIRST_SENTENCE, context_id=context, flush=True)
        await socket.send(context_id=context, close_context=True)
        await socket.final(context)
        times.append(await socket.first(context) - sent)
        await asyncio.sleep(gap)
    await socket.close()
    return times


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = start_server(data, Path(tmp) / "server.log")
        try:
            settings = Settings(data_dir=data)
            engine = load_engine(settings)
            voice = VoiceLibrary(settings.voices_dir, engine).choose(
                "Demo", emotion="greeting").voice_state
            lines = script(JOB_LINES, "line")
            texts = [line["text"] for line in lines]
            raw_rate(engine, voice, texts[:4], 2)  # warm up
            raw = raw_rate(engine, voice, texts, 2)
            start = time.perf_counter()
            job_id = submit(server.base_url, lines)
            wait_rendered(server.base_url, job_id)
            served = audio_seconds(server.base_url, job_id) / (time.perf_counter() - start)
            job = wait_job(server.base_url, job_id)  # and checked
            assert job["request_counts"]["completed"] == JOB_LINES, job
            print(f"1. {JOB_LINES}-line job: {served:.2f} audio s per wall s; raw engine "
                  f"{raw:.2f}; ratio {served / raw:.2f} (target >= 0.90)")

            idle = asyncio.run(ttfa(server.ws_url, TTFA_ROUNDS))
            background = submit(server.base_url, script(BACKGROUND_LINES, "bg"))
            while job_state(server.base_url, background)["status"] == "queued":
                time.sleep(0.1)
            busy = asyncio.run(ttfa(server.ws_url, TTFA_ROUNDS, gap=0.5))
            during = job_state(server.base_url, background)
            requests.post(f"{server.base_url}/breathvoice/jobs/{background}/cancel", timeout=30)
            ratio = statistics.median(busy) / statistics.median(idle)
            print(f"2. TTFA ms idle: {' '.join(f'{t * 1000:.0f}' for t in idle)}; with a job "
                  f"running: {' '.join(f'{t * 1000:.0f}' for t in busy)} (job still "
                  f"{during['status']}, {during['request_counts']['completed']} lines done); "
                  f"median ratio {ratio:.2f} (target <= 1.30)")
        finally:
            stop_server(server)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Streamed ``/v1/audio/speech``: time to first byte against the engine, under load too.

Starts a real server on a free loopback port (its own temporary data folder, see
``common.py``), then prints:

  1. TTFB of one request at a time over the engine's own first chunk of the same text
     (``early_first_chunk``, the Demo group's greeting voice), for mp3 and pcm, raw and
     served in turns so drift hits both alike                          target <= 1.10
  2. TTFB with 1, 4 and 8 requests started at once (median, p90), on a long Chinese first
     sentence with an early clause and an English one with no punctuation before its end,
     and how many the server refused (503; with ``BREATHVOICE_ADMISSION=reject`` set)
  3. audio seconds per wall second with 4 clients each asking for 3 lines in a row, on
     this server and on a second one with the classic scheduling policy
     (``BREATHVOICE_SCHEDULER_POLICY=classic``), in turns                target >= 0.95

    .venv/bin/python bench/openai_ttfb.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CLASSIC,
    CONCURRENCY,
    RATE,
    THROUGHPUT_TEXTS,
    Busy,
    Served,
    concurrent_firsts,
    engine_first_chunk,
    extra_server,
    load_average,
    served,
    ttfa_table,
)

TEXT = "今天天气很好，我们一起去公园散步吧。路上还可以买一杯热咖啡，慢慢地走回家。"
FORMATS = ("mp3", "pcm")
ROUNDS = 5
CONCURRENT_ROUNDS = {1: 4, 4: 2, 8: 1}
THROUGHPUT_ROUNDS = 1


def body(text: str, fmt: str = "pcm") -> dict[str, str]:
    return {"model": "tts-1", "input": text, "voice": "Demo", "response_format": fmt}


async def first_byte(client: httpx.AsyncClient, base: str, text: str, fmt: str = "pcm") -> float:
    start = time.perf_counter()
    async with client.stream("POST", f"{base}/v1/audio/speech", json=body(text, fmt)) as r:
        if r.status_code == 503:
            raise Busy(r.headers.get("retry-after", ""))
        r.raise_for_status()
        await anext(r.aiter_raw())
        return time.perf_counter() - start  # leaving the stream stops the rest of the speech


def raw_first_chunk(setup: Served) -> float:
    return engine_first_chunk(setup.engine, TEXT, setup.voice)[1]


async def against_raw(client: httpx.AsyncClient, setup: Served) -> None:
    base = setup.server.base_url
    raw_first_chunk(setup)  # warm up both
    for fmt in FORMATS:
        await first_byte(client, base, TEXT, fmt)
    raws: list[float] = []
    servers: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    for _ in range(ROUNDS):
        raws.append(raw_first_chunk(setup))
        for fmt in FORMATS:
            servers[fmt].append(await first_byte(client, base, TEXT, fmt))
    print(f"1. one request at a time, {ROUNDS} rounds (text: {len(TEXT)} chars, two sentences)")
    print(f"   {'':28}{'median':>10}{'min':>10}{'ratio (median)':>16}{'ratio (min)':>13}")
    _row("raw engine, first chunk", raws, raws)
    for fmt in FORMATS:
        _row(f"/v1/audio/speech {fmt}, TTFB", servers[fmt], raws)


def _row(label: str, times: list[float], raws: list[float]) -> None:
    median, best = statistics.median(times), min(times)
    print(f"   {label:28}{median * 1000:8.1f}ms{best * 1000:8.1f}ms"
          f"{median / statistics.median(raws):16.3f}{best / min(raws):13.3f}")


async def concurrency(client: httpx.AsyncClient, base: str) -> None:
    results = {}
    for streams in CONCURRENCY:
        async def first(text: str) -> float:
            return await first_byte(client, base, text)

        results[streams] = await concurrent_firsts(first, streams, CONCURRENT_ROUNDS[streams])
    print("2. TTFB with several requests started at once (zh: clause early, en: no mark)")
    ttfa_table(results)


async def throughput(client: httpx.AsyncClient, base: str) -> float:
    async def one_client() -> int:
        size = 0
        for text in THROUGHPUT_TEXTS[:3]:
            answer = await client.post(f"{base}/v1/audio/speech", json=body(text))
            size += len(answer.content)
        return size

    start = time.perf_counter()
    sizes = await asyncio.gather(*(one_client() for _ in range(4)))
    return sum(sizes) / 2 / RATE / (time.perf_counter() - start)


async def policies(client: httpx.AsyncClient, setup: Served) -> None:
    with extra_server(setup.tmp, "classic", **CLASSIC) as classic:
        await throughput(client, classic.base_url)  # warm up
        news, olds = [], []
        for _ in range(THROUGHPUT_ROUNDS):
            news.append(await throughput(client, setup.server.base_url))
            olds.append(await throughput(client, classic.base_url))
            news.append(await throughput(client, setup.server.base_url))
    new, old = statistics.median(news), statistics.median(olds)
    print(f"3. 4 clients x 3 lines: responsive {new:.2f} audio-s/s, classic {old:.2f};"
          f" ratio {new / old:.2f} (target >= 0.95; runs {' '.join(f'{s:.2f}' for s in news)}"
          f" / {' '.join(f'{s:.2f}' for s in olds)})")


async def run(setup: Served) -> None:
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await against_raw(client, setup)
        await concurrency(client, setup.server.base_url)
        await policies(client, setup)


def main() -> None:
    print(f"load average at start: {load_average()}")
    with served() as setup:
        asyncio.run(run(setup))
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()

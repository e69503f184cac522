"""Soak: 1,000 idle sockets and 20 generating contexts held for a while, RSS watched.

Starts its own server on a free loopback port (a temporary data folder, a fresh admin key
so the key path is exercised too), then for ``--minutes``:

- ``--idle`` sockets (default 1000) stay open, each sending a keep-alive every 15 s;
- ``--generating`` contexts (default 20: 4 sockets x 5 contexts) speak a sentence, wait
  for its final message, and start again;
- the server's RSS is sampled every 5 s.

It stops by itself, prints a JSON summary and exits non-zero if any error message,
unexpected close or failed connection was seen, or if RSS grew by 5 % or more between the
end of the warm-up and the end. The warm-up lasts ``--warmup-minutes`` (default 2) and at
least until every generating context has spoken once: the contexts start at different
sentences, so by then every sentence has been spoken with the full load, and the engine's
memory pools have met the work they will see.

    .venv/bin/python bench/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from breathvoice.settings import Settings  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402

SENTENCES = ["The river bends slowly past the old mill.", "今天的天气很好，我们去公园吧。",
             "Please hold the line, your call matters to us.", "Numbers like 42 are fun."]
KEEP_ALIVE_SECONDS = 15.0
RSS_EVERY_SECONDS = 5.0


class Tally:
    def __init__(self, contexts: int) -> None:
        self.errors: list[str] = []
        self.finals = 0
        self.audio_messages = 0
        self.started = time.monotonic()
        self._contexts_to_warm = contexts
        self.all_spoken_after: float | None = None
        """Seconds until every generating context had finished its first sentence."""

    def first_final(self) -> None:
        self._contexts_to_warm -= 1
        if self._contexts_to_warm == 0:
            self.all_spoken_after = time.monotonic() - self.started

    def error(self, what: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(what)
        else:
            self.errors[-1] = f"... and more; last: {what}"


async def idle_socket(url: str, deadline: float, tally: Tally) -> None:
    try:
        async with websockets.connect(url, open_timeout=60, max_queue=None) as ws:
            while time.monotonic() < deadline:
                await asyncio.sleep(min(KEEP_ALIVE_SECONDS, max(0.0, deadline - time.monotonic())))
                await ws.send(json.dumps({"text": ""}))
            await ws.send(json.dumps({"close_socket": True}))
    except Exception as exc:  # every failure is a finding
        tally.error(f"idle socket: {type(exc).__name__}: {exc}")


async def generating_socket(url: str, contexts: int, deadline: float, tally: Tally) -> None:
    try:
        async with websockets.connect(url, open_timeout=60, max_size=None) as ws:
            async def one(context: str, rounds: int) -> None:
                text = SENTENCES[(int(context[1:]) + rounds) % len(SENTENCES)]
                await ws.send(json.dumps({"text": text + " ", "context_id": context,
                                          "flush": True}))
                await ws.send(json.dumps({"context_id": context, "close_context": True}))

            rounds = {f"c{i}": 0 for i in range(contexts)}
            for context in rounds:
                await one(context, 0)
            while rounds:
                message = json.loads(await ws.recv())
                if "error" in message:
                    tally.error(f"server error message: {message}")
                elif message.get("audio"):
                    tally.audio_messages += 1
                elif message.get("isFinal"):
                    tally.finals += 1
                    context = message.get("contextId")
                    if context in rounds:
                        if rounds[context] == 0:
                            tally.first_final()
                        if time.monotonic() >= deadline:
                            del rounds[context]
                        else:
                            rounds[context] += 1
                            await one(context, rounds[context])
            await ws.send(json.dumps({"close_socket": True}))
    except Exception as exc:
        tally.error(f"generating socket: {type(exc).__name__}: {exc}")


async def sample_rss(pid: int, deadline: float, samples: list[tuple[float, int]]) -> None:
    process = psutil.Process(pid)
    start = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - start, process.memory_info().rss))
        await asyncio.sleep(RSS_EVERY_SECONDS)


async def soak(base_ws: str, key: str, pid: int, args: argparse.Namespace) -> dict[str, object]:
    deadline = time.monotonic() + args.minutes * 60
    path = "/v1/text-to-speech/Demo/multi-stream-input"
    url = f"{base_ws}{path}?inactivity_timeout=180&output_format=pcm_24000&xi_api_key={key}"
    per_socket = 5
    generating_sockets = max(1, args.generating // per_socket)
    tally = Tally(generating_sockets * per_socket)
    rss: list[tuple[float, int]] = []
    tasks = [asyncio.create_task(sample_rss(pid, deadline, rss))]
    for _ in range(generating_sockets):
        tasks.append(asyncio.create_task(generating_socket(url, per_socket, deadline, tally)))
    for index in range(args.idle):
        tasks.append(asyncio.create_task(idle_socket(url, deadline, tally)))
        if index % 50 == 49:
            await asyncio.sleep(0.2)  # do not open a thousand sockets in one burst
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.minutes * 60 + 300)
    if tally.all_spoken_after is None:
        tally.error("the warm-up never ended: some context did not finish its first sentence")
    warmup_seconds = max(args.warmup_minutes * 60, tally.all_spoken_after or 0.0)
    warm = [r for t, r in rss if t <= warmup_seconds] or [rss[0][1]]
    tail = [r for t, r in rss[-6:]]
    growth = (statistics.median(tail) - statistics.median(warm[-3:])) / statistics.median(warm[-3:])
    return {"minutes": args.minutes, "idle_sockets": args.idle,
            "generating_contexts": generating_sockets * per_socket, "finals": tally.finals,
            "audio_messages": tally.audio_messages, "errors": tally.errors,
            "warmup_seconds": round(warmup_seconds),
            "rss_mib_after_warmup": round(statistics.median(warm[-3:]) / 2**20, 1),
            "rss_mib_at_end": round(statistics.median(tail) / 2**20, 1),
            "rss_growth_percent": round(100 * growth, 2),
            "rss_mib_each_minute": [round(r / 2**20) for t, r in rss
                                    if int(t // 60) > int((t - RSS_EVERY_SECONDS) // 60)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--generating", type=int, default=20)
    parser.add_argument("--warmup-minutes", type=float, default=2.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    root = Path(tempfile.mkdtemp(prefix="breathvoice-soak-"))
    data_dir = root / "data"
    created = subprocess.run([sys.executable, "-m", "breathvoice", "keys", "create", "--scope",
                              "admin", "--data-dir", str(data_dir)],
                             capture_output=True, text=True, check=True)
    key = created.stdout.strip()
    # the test servers skip the engine warm-up; the soak runs the server as users do
    warm_up = str(Settings.model_fields["engine_warmup_tokens"].default)
    server = start_server(data_dir, root / "server.log", BREATHVOICE_ENGINE_WARMUP_TOKENS=warm_up)
    try:
        result = asyncio.run(soak(server.ws_url, key, server.process.pid, args))
    finally:
        stop_server(server)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    ok = not result["errors"] and float(result["rss_growth_percent"]) < 5.0  # type: ignore[arg-type]
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("BREATHVOICE_MAX_CONTEXTS_PER_SOCKET", "5")
    sys.exit(main())

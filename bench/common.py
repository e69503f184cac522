"""What the server benches share: a real server, the same engine in this process, clients.

``served()`` starts a real server on a free loopback port (its own temporary data folder)
and loads the same engine with the same voice in this process, so raw and served figures
can be compared. ``extra_server()`` starts one more server (another policy) beside it.
``Socket`` is a multi-context WebSocket client; ``concurrent_firsts`` times first audio
for several streams started at once (each stream is dropped at its first audio, which
stops its speech: the streams started together compete for their first chunks).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from breathvoice.engines.base import AudioChunk, Engine, SynthesisOptions, VoiceState  # noqa: E402
from breathvoice.engines.registry import load_engine  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402
from breathvoice.voices.library import VoiceLibrary  # noqa: E402
from conftest import LiveServer, start_server, stop_server  # noqa: E402

RATE = 24000
QUERY = f"output_format=pcm_{RATE}&model_id=eleven_flash_v2_5&inactivity_timeout=180"
FIRST_SENTENCE = ("您好，感谢您的来电，我可以帮您查询订单的最新状态、修改收货地址，"
                  "或者马上为您转接账单部门的同事。")
"""A long Chinese sentence with an early clause."""
EN_FIRST_SENTENCE = ("Thank you for calling our support line today I can check the status of "
                     "your order or change your delivery address right away.")
"""A long English sentence with no punctuation before its end."""
FIRST_SENTENCES = {"zh": FIRST_SENTENCE, "en": EN_FIRST_SENTENCE}
THROUGHPUT_TEXTS = [
    "今天天气很好，我们去散步吧。",
    "这个周末我想在家里休息。",
    "请您稍等，我马上为您查询。",
    "谢谢您的耐心，订单已经发货了。",
    "还有问题的话，欢迎随时联系我们。",
]
CONCURRENCY = (1, 4, 8)
CLASSIC = {"BREATHVOICE_SCHEDULER_POLICY": "classic"}
ADMISSION = os.environ.get("BREATHVOICE_ADMISSION", "degrade")
"""The servers' admission mode: they inherit this environment."""


class Busy(Exception):
    """The server refused a new stream: it is at its real-time capacity (``reject``)."""


@dataclass
class Served:
    server: LiveServer
    engine: Engine
    voice: VoiceState
    tmp: Path


@contextmanager
def served(**env: str) -> Iterator[Served]:
    """A real server (environment ``env``) and the same engine and voice in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = start_server(data, Path(tmp) / "server.log", **env)
        try:
            settings = Settings(data_dir=data)
            engine = load_engine(settings)
            voice = VoiceLibrary(settings.voices_dir, engine).choose(
                "Demo", emotion="greeting").voice_state
            yield Served(server, engine, voice, Path(tmp))
        finally:
            stop_server(server)


@contextmanager
def extra_server(tmp: Path, name: str, **env: str) -> Iterator[LiveServer]:
    server = start_server(tmp / name, tmp / f"{name}.log", **env)
    try:
        yield server
    finally:
        stop_server(server)


class Socket:
    """One client connection; messages per context are collected as they arrive."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.audio_bytes: dict[str, int] = {}
        self.firsts: dict[str, asyncio.Future[float]] = {}
        self.finals: dict[str, asyncio.Future[float]] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str) -> Socket:
        url = f"{base}/v1/text-to-speech/Demo/multi-stream-input?{QUERY}"
        # no keepalive pings: a loaded machine may hold the loop past their timeout
        return cls(await websockets.connect(url, max_size=None, ping_interval=None))

    async def send(self, **message: Any) -> float:
        await self.ws.send(json.dumps(message, ensure_ascii=False))
        return time.perf_counter()

    def first(self, context_id: str) -> asyncio.Future[float]:
        """When the context's first audio arrived."""
        return self.firsts.setdefault(context_id, asyncio.get_running_loop().create_future())

    def final(self, context_id: str) -> asyncio.Future[float]:
        """When the context's final message arrived."""
        return self.finals.setdefault(context_id, asyncio.get_running_loop().create_future())

    async def ttfa(self, text: str) -> float:
        """Speak ``text`` on a new context; seconds from sending to its first audio."""
        context = f"c{time.monotonic_ns()}"
        sent = await self.send(text=text, context_id=context, flush=True)
        await self.send(context_id=context, close_context=True)
        await self.final(context)
        return await self.first(context) - sent

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            message = json.loads(raw)
            context = message.get("contextId")
            if message.get("error") == "SERVER_BUSY" and context:
                for future in (self.first(context), self.final(context)):
                    if not future.done():
                        future.set_exception(Busy(message.get("message", "")))
                continue
            if message.get("error"):
                raise RuntimeError(f"server error: {message}")
            if message.get("audio"):
                if not self.first(context).done():
                    self.first(context).set_result(now)
                size = len(base64.b64decode(message["audio"]))
                self.audio_bytes[context] = self.audio_bytes.get(context, 0) + size
            if message.get("isFinal"):
                self.final(context).set_result(now)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


async def concurrent_firsts(first: Callable[[str], Awaitable[float]], streams: int,
                            rounds: int) -> dict[str, list[float]]:
    """Time to first audio of ``streams`` started at once, ``rounds`` times, by language.

    Stream ``i`` speaks the English first sentence when ``i + round`` is odd, else the
    Chinese one; ``first(text)`` starts one and returns its time to first audio, or raises
    :class:`Busy` when the server refuses it (counted under ``"refused"``).
    """
    times: dict[str, list[float]] = {"zh": [], "en": [], "refused": []}
    for round_ in range(rounds):
        languages = ["en" if (i + round_) % 2 else "zh" for i in range(streams)]
        results = await asyncio.gather(*(first(FIRST_SENTENCES[lang]) for lang in languages),
                                       return_exceptions=True)
        for language, seconds in zip(languages, results, strict=True):
            if isinstance(seconds, Busy):
                times["refused"].append(0.0)
            elif isinstance(seconds, BaseException):
                raise seconds
            else:
                times[language].append(seconds)
        await asyncio.sleep(0.3)
    return times


async def socket_first(base: str, text: str) -> float:
    """A new socket speaks ``text``; seconds from sending it to the first audio. The
    socket is closed then, which stops the rest of the speech (so rounds stay short)."""
    socket = await Socket.open(base)
    try:
        context = "c1"
        sent = await socket.send(text=text, context_id=context, flush=True)
        return await socket.first(context) - sent
    finally:
        await socket.close()


async def socket_firsts(base: str, streams: int, rounds: int) -> dict[str, list[float]]:
    """:func:`concurrent_firsts` with one new socket per stream."""
    await socket_first(base, "好的。")  # warm up

    async def first(text: str) -> float:
        return await socket_first(base, text)

    return await concurrent_firsts(first, streams, rounds)


def engine_first_chunk(engine: Engine, text: str, voice: VoiceState,
                       options: SynthesisOptions | None = None) -> tuple[AudioChunk, float]:
    """The engine's first chunk of ``text`` as a stream asks for it (``early_first_chunk``
    unless ``options`` say otherwise) and the seconds it took; the rest is never made."""
    started = time.perf_counter()
    options = options or SynthesisOptions(early_first_chunk=True)
    chunks = iter(engine.synthesize(text, voice, options))
    chunk = next(chunks)
    elapsed = time.perf_counter() - started
    getattr(chunks, "close", lambda: None)()
    return chunk, elapsed


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


nan = float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else nan


def ttfa_table(results: dict[int, dict[str, list[float]]]) -> None:
    """Print TTFA median and p90 per concurrency, against #26's targets, and how many
    streams the server refused (admission ``reject``; ``degrade`` serves every one)."""
    targets = {1: "<= 0.6 s each language", 4: "median <= 1.0 s, p90 <= 1.5 s",
               8: "median <= 1.5 s (or admission)"}
    print(f"   admission: {ADMISSION} (BREATHVOICE_ADMISSION; degrade serves every stream and"
          " slows all evenly, reject refuses a stream over capacity: 503 / SERVER_BUSY)")
    print(f"   {'streams':>8}{'median':>9}{'p90':>8}{'zh median':>11}{'en median':>11}"
          f"{'refused':>9}  target")
    for streams, times in results.items():
        every = times["zh"] + times["en"]
        refused = f"{len(times['refused'])}/{len(every) + len(times['refused'])}"
        print(f"   {streams:>8}{_median(every):>8.2f}s{p90(every) if every else nan:>7.2f}s"
              f"{_median(times['zh']):>10.2f}s{_median(times['en']):>10.2f}s{refused:>9}"
              f"  {targets.get(streams, '')}")



def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"

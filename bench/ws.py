"""Multi-context WebSocket: latency, throughput and cancellation against the raw engine.

Starts a real server on a free loopback port (its own temporary data folder, default
settings) and loads the same engine, with the same voice, in this process (see
``common.py``). Raw and server measurements take turns and never run at the same time;
each figure is the median of per-round ratios, so a machine shared with other work hits
both sides alike. Prints:

  1. TTFA: time from sending a flushed text on a new context to its first audio message,
     over the engine's time for the same first chunk (early cut)           target <= 1.10
  2. TTFA over the engine's time for the whole first sentence              target <= 0.35
  3. TTFA at 1, 4 and 8 sockets starting a context at once (median, p90), on a long
     Chinese first sentence and an English one with no punctuation before its end, and
     how many the server refused (``BREATHVOICE_ADMISSION=reject`` in the environment
     applies to the servers started; the default, degrade, serves every one)
  4. audio seconds per wall second, 4 sockets x 3 contexts, over the raw engine's on the
     same texts (2 threads, no early first chunk)                          target >= 0.90
     and over the same on a second server with the classic scheduling policy
     (``BREATHVOICE_SCHEDULER_POLICY=classic``), in turns                  target >= 0.95
  5. close_context -> final message, on a context whose audio is out       target <= 50 ms
     dropped socket -> engine free: a socket with two long generations running (both
     workers busy) vanishes; the server's CPU time in the next second, over two target <= 50 ms
     (also: a new socket's first audio right after such a drop against an idle server,
     and how fast the engine alone aborts a running model call)

    .venv/bin/python bench/ws.py [latency|concurrency|throughput|cancellation ...]
    (all by default; several minutes on 2 idle cores)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CLASSIC,
    CONCURRENCY,
    FIRST_SENTENCE,
    RATE,
    THROUGHPUT_TEXTS,
    Served,
    Socket,
    engine_first_chunk,
    extra_server,
    load_average,
    process_cpu_seconds,
    served,
    socket_firsts,
    ttfa_table,
)

from breathvoice.engines.base import CancelToken, Engine, SynthesisOptions, VoiceState  # noqa: E402

LONG_TEXT = "".join(THROUGHPUT_TEXTS) * 4
SHORT_TEXT = "好的。"
TTFA_ROUNDS = 3
THROUGHPUT_ROUNDS = 1
CONTEXTS_PER_SOCKET = 3
CANCEL_ROUNDS = 5
CONCURRENT_ROUNDS = {1: 4, 4: 2, 8: 1}


class Bench:
    def __init__(self, setup: Served) -> None:
        self.setup = setup
        self.base, self.server_pid = setup.server.ws_url, setup.server.process.pid
        self.engine: Engine = setup.engine
        self.voice: VoiceState = setup.voice
        self.contexts = 0
        self.cpu_per_audio_second: dict[str, list[float]] = {
            "raw": [], "raw early": [], "served": []}

    def new_context(self) -> str:
        self.contexts += 1
        return f"c{self.contexts}"

    # raw engine

    def raw_first_chunk(self) -> float:
        return engine_first_chunk(self.engine, FIRST_SENTENCE, self.voice)[1]

    def raw_whole(self, text: str) -> float:
        start = time.perf_counter()
        for _ in self.engine.synthesize(text, self.voice, SynthesisOptions()):
            pass
        return time.perf_counter() - start

    def raw_throughput(self, threads: int, early_first_chunk: bool = False) -> float:
        options = SynthesisOptions(early_first_chunk=early_first_chunk)

        def speak(text: str) -> float:
            chunks = self.engine.synthesize(text, self.voice, options)
            return sum(chunk.duration for chunk in chunks)

        start, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(threads) as pool:
            seconds = sum(pool.map(speak, throughput_texts()))
        side = "raw early" if early_first_chunk else "raw"
        self.cpu_per_audio_second[side].append((time.process_time() - cpu) / seconds)
        return seconds / (time.perf_counter() - start)

    def raw_abort(self) -> float:
        """Engine alone: cancel during a model call -> the call returns."""
        token = CancelToken()
        chunks = iter(self.engine.synthesize(LONG_TEXT, self.voice, SynthesisOptions(cancel=token)))
        next(chunks)  # the next model call starts in the thread below
        ended: list[float] = []
        thread = threading.Thread(target=lambda: (list(chunks), ended.append(time.perf_counter())))
        thread.start()
        time.sleep(0.3)
        cancelled = time.perf_counter()
        token.cancel()
        thread.join()
        return ended[0] - cancelled

    # server

    async def ttfa(self, socket: Socket, text: str = FIRST_SENTENCE) -> float:
        context = self.new_context()
        sent = await socket.send(text=text, context_id=context, flush=True)
        await socket.send(context_id=context, close_context=True)
        await socket.final(context)
        return await socket.first(context) - sent

    async def server_throughput(self, base: str | None = None, pid: int | None = None) -> float:
        sockets = [await Socket.open(base or self.base) for _ in range(4)]
        texts = iter(throughput_texts())
        pid = pid or self.server_pid
        start, cpu = time.perf_counter(), process_cpu_seconds(pid)
        finals = []
        for socket in sockets:
            for _ in range(CONTEXTS_PER_SOCKET):
                context = self.new_context()
                await socket.send(text=next(texts), context_id=context, flush=True)
                await socket.send(context_id=context, close_context=True)
                finals.append(socket.final(context))
        await asyncio.gather(*finals)
        elapsed = time.perf_counter() - start
        audio = sum(sum(s.audio_bytes.values()) for s in sockets) / 2 / RATE
        cpu = process_cpu_seconds(pid) - cpu
        if pid == self.server_pid:
            self.cpu_per_audio_second["served"].append(cpu / audio)
        for socket in sockets:
            await socket.close()
        return audio / elapsed

    async def close_to_final(self, socket: Socket) -> float:
        context = self.new_context()
        await socket.send(text=SHORT_TEXT, context_id=context, flush=True)
        await socket.first(context)
        await asyncio.sleep(1.0)  # the audio of a short text is all out by now
        sent = await socket.send(context_id=context, close_context=True)
        return await socket.final(context) - sent

    async def drop_busy_socket(self) -> None:
        """A socket with one long generation per worker vanishes mid-speech."""
        busy = await Socket.open(self.base)
        contexts = [self.new_context() for _ in range(2)]
        for context in contexts:
            await busy.send(text=LONG_TEXT, context_id=context, flush=True)
        await asyncio.gather(*(busy.first(context) for context in contexts))
        busy.reader.cancel()
        busy.ws.transport.abort()  # no closing handshake

    async def server_cpu_during(self, seconds: float) -> float:
        start = process_cpu_seconds(self.server_pid)
        await asyncio.sleep(seconds)
        return process_cpu_seconds(self.server_pid) - start

    async def cpu_after_drop(self) -> float:
        """Server CPU seconds spent in the second after a busy socket vanished."""
        await self.drop_busy_socket()
        return await self.server_cpu_during(1.0)

    async def ttfa_after_drop(self, socket: Socket) -> float:
        await self.drop_busy_socket()
        return await self.ttfa(socket, SHORT_TEXT)


def throughput_texts() -> list[str]:
    return [THROUGHPUT_TEXTS[i % 5] for i in range(4 * CONTEXTS_PER_SOCKET)]


def ms(seconds: list[float]) -> str:
    return " ".join(f"{s * 1000:.0f}" for s in seconds)


def ratios(numerators: list[float], denominators: list[float]) -> str:
    return " ".join(f"{n / d:.2f}" for n, d in zip(numerators, denominators, strict=True))


async def latency(bench: Bench) -> None:
    """Figures 1 and 2: each round times the engine and the server back to back."""
    socket = await Socket.open(bench.base)
    await bench.ttfa(socket)  # warm both up
    await asyncio.to_thread(bench.raw_first_chunk)
    firsts, wholes, ttfas = [], [], []
    for _ in range(TTFA_ROUNDS):
        firsts.append(await asyncio.to_thread(bench.raw_first_chunk))
        ttfas.append(await bench.ttfa(socket))
        wholes.append(await asyncio.to_thread(bench.raw_whole, FIRST_SENTENCE))
    await socket.close()
    first = statistics.median(t / f for t, f in zip(ttfas, firsts, strict=True))
    whole = statistics.median(t / w for t, w in zip(ttfas, wholes, strict=True))
    print(f"1. TTFA / engine first chunk = {first:.2f}   (target <= 1.10)")
    print(f"2. TTFA / whole first sentence = {whole:.2f}   (target <= 0.35)")
    print(f"   per round: TTFA {ms(ttfas)} ms; engine first chunk {ms(firsts)} ms;"
          f" whole sentence {ms(wholes)} ms")


async def throughput(bench: Bench) -> None:
    """Figure 4: raw (as many threads as workers), responsive and classic runs in turns."""
    threads = 2
    raws, served, classics = [], [], []
    with extra_server(bench.setup.tmp, "classic", **CLASSIC) as classic:
        for _ in range(THROUGHPUT_ROUNDS):
            raws.append(bench.raw_throughput(threads))
            served.append(await bench.server_throughput())
            classics.append(await bench.server_throughput(classic.ws_url, classic.process.pid))
            served.append(await bench.server_throughput())
            raws.append(bench.raw_throughput(threads))
    ratio = statistics.median(served) / statistics.median(raws)
    print(f"4. 4 sockets x 3 contexts / raw engine = {ratio:.2f}   (target >= 0.90)")
    print(f"   responsive policy / classic policy, same run = "
          f"{statistics.median(served) / statistics.median(classics):.2f}   (target >= 0.95)")
    print(f"   runs (audio-s/s): responsive {' '.join(f'{s:.2f}' for s in served)}; classic"
          f" {' '.join(f'{s:.2f}' for s in classics)}; raw on {threads} threads"
          f" {' '.join(f'{r:.2f}' for r in raws)}")
    cpu = {side: statistics.median(v) for side, v in bench.cpu_per_audio_second.items() if v}
    print(f"   CPU s per audio s (steadier than wall time on a shared machine): served"
          f" {cpu['served']:.2f}, raw {cpu['raw']:.2f}")


async def concurrency(bench: Bench) -> None:
    """Figure 3: one socket per stream, every stream starts a context at once."""
    results = {streams: await socket_firsts(bench.base, streams, CONCURRENT_ROUNDS[streams])
               for streams in CONCURRENCY}
    print("3. TTFA with several sockets starting at once (zh: clause early, en: no mark)")
    ttfa_table(results)


async def cancellation(bench: Bench) -> None:
    """Figure 5."""
    socket = await Socket.open(bench.base)
    close_ms = statistics.median([await bench.close_to_final(socket) for _ in range(3)]) * 1000
    print(f"5. close_context -> final {close_ms:.1f} ms   (target <= 50 ms)")
    idles, drops = [], []
    for _ in range(CANCEL_ROUNDS):
        idles.append(await bench.ttfa(socket, SHORT_TEXT))
        drops.append(await bench.ttfa_after_drop(socket))
    await socket.close()
    idle_cpu = statistics.median([await bench.server_cpu_during(1.0) for _ in range(3)])
    after = [await bench.cpu_after_drop() - idle_cpu for _ in range(CANCEL_ROUNDS)]
    # Both workers were busy at the drop: the engine ran on for half the CPU time spent.
    print(f"   dropped socket -> engine free {statistics.median(after) / 2 * 1000:.0f} ms"
          f"   (target <= 50 ms; server CPU in the second after each drop: {ms(after)} ms)")
    freed = statistics.median(d - i for d, i in zip(drops, idles, strict=True))
    print(f"   a new socket's first audio after a drop: {freed * 1000:+.0f} ms against idle"
          f" (per round {ms(drops)} ms vs {ms(idles)} ms)")
    abort = statistics.median([await asyncio.to_thread(bench.raw_abort) for _ in range(3)])
    print(f"   engine alone: cancel -> its running model call returns {abort * 1000:.0f} ms")


FIGURES = {"latency": latency, "concurrency": concurrency, "throughput": throughput,
           "cancellation": cancellation}


async def run(bench: Bench, figures: list[str]) -> None:
    print(f"load average at start: {load_average()}")
    for name in figures:
        await FIGURES[name](bench)
    print(f"load average at end: {load_average()}")


def main() -> None:
    figures = sys.argv[1:] or list(FIGURES)
    if not set(figures) <= set(FIGURES):
        sys.exit(f"usage: bench/ws.py [{'|'.join(FIGURES)} ...]")
    with served() as setup:
        asyncio.run(run(Bench(setup), figures))


if __name__ == "__main__":
    main()

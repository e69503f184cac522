"""Where one request's time to first audio goes, stage by stage, socket and HTTP.

Runs the real server (the app of ``create_app``, the Kokoro engine, default settings, its
own temporary data folder) on a loopback port inside this process, with probes on the
stages one streamed request goes through, and speaks the bench's first sentences (the
long Chinese one, the English one with no punctuation before its end) one request at a
time over the multi-context socket (pcm_24000) and ``POST /v1/audio/speech`` (mp3, pcm).
For each, from the client sending its text to its first audio bytes:

  route      parse, voice lookup, session: text sent -> job submitted to the scheduler
  hand-off   submitted -> a worker starts it
  cut        sentences and the short first chunk (``plan_pieces``)
  G2P        phonemes of the first chunk
  model      the ONNX model call
  trim       silence trim, pause, alignment (the rest of the engine's chunk)
  encode     encoder start-up and encoding of the first chunk
  delivery   encoded -> the client holds the bytes (event loop, socket, client)

and, in turns with the requests, the raw engine's own first chunk of the same text. Medians
over rounds; each stage also as a share of TTFA, and TTFA over the raw first chunk.

    .venv/bin/python bench/ttfa_parts.py [rounds]
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIRST_SENTENCES, Socket, engine_first_chunk  # noqa: E402

from breathvoice import speech  # noqa: E402
from breathvoice.app import create_app  # noqa: E402
from breathvoice.engines.kokoro import engine as kokoro_engine  # noqa: E402
from breathvoice.engines.kokoro.g2p import Phonemizer  # noqa: E402
from breathvoice.engines.kokoro.model import KokoroModel  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402
from breathvoice.streaming import audio_out  # noqa: E402
from breathvoice.streaming.scheduler import SynthesisScheduler  # noqa: E402

STAGES = ("route", "hand-off", "cut", "G2P", "model", "trim", "encode", "delivery")
marks: dict[str, float] = {}
"""When each probe first fired for the request being timed (perf_counter)."""


def mark(name: str) -> None:
    marks.setdefault(name, time.perf_counter())


def probe(owner: Any, attribute: str, before: str | None, after: str | None) -> None:
    """Wrap ``owner.attribute`` to mark ``before`` when first called, ``after`` on return."""
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before)
        result = original(*args, **kwargs)
        if after:
            mark(after)
        return result

    setattr(owner, attribute, wrapped)


def probe_encoders(module: Any) -> None:
    """Mark when the first encoder is asked for and when its first encoding returns."""
    make = module.make_encoder

    def made(*args: Any) -> Any:
        mark("encode")
        encoder = make(*args)
        probe(encoder, "encode", None, "encoded")
        return encoder

    module.make_encoder = made


def install_probes() -> None:
    probe(SynthesisScheduler, "submit", "submitted", None)
    probe(SynthesisScheduler, "_step", "worker", None)
    probe(kokoro_engine, "plan_pieces", None, "cut")
    probe(Phonemizer, "phonemize", None, "G2P")
    probe(KokoroModel, "run_cropped", None, "model")
    probe(kokoro_engine, "speak", None, "trim")
    probe_encoders(speech)
    probe_encoders(audio_out)


def stages(sent: float, received: float) -> dict[str, float]:
    """Seconds per stage of the request whose probes are in ``marks``."""
    times = [sent, marks["submitted"], marks["worker"], marks["cut"], marks["G2P"],
             marks["model"], marks["trim"], marks["encoded"], received]
    return {name: b - a for name, a, b in zip(STAGES, times, times[1:], strict=False)}


class Server:
    def __init__(self, data: Path) -> None:
        settings = Settings(data_dir=data, enrolment=False)
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0,
                                log_level="warning", ws_ping_interval=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not (self.server.started and self.server.servers):
            time.sleep(0.1)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http, self.ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


async def socket_request(server: Server, text: str) -> dict[str, float]:
    socket = await Socket.open(server.ws)
    try:
        await asyncio.sleep(0.2)  # the previous request's last probes have fired
        marks.clear()
        sent = await socket.send(text=text, context_id="c1", flush=True)
        received = await socket.first("c1")
        return stages(sent, received)
    finally:
        await socket.close()


async def http_request(server: Server, text: str, fmt: str) -> dict[str, float]:
    body = {"model": "tts-1", "input": text, "voice": "Demo", "response_format": fmt}
    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.sleep(0.2)
        marks.clear()
        sent = time.perf_counter()
        async with client.stream("POST", f"{server.http}/v1/audio/speech", json=body) as r:
            r.raise_for_status()
            await anext(r.aiter_raw())
            return stages(sent, time.perf_counter())


def raw_first_chunk(engine: Any, voice: Any, text: str) -> float:
    return engine_first_chunk(engine, text, voice)[1]


async def run(server: Server, rounds: int) -> None:
    services = server.server.config.app.state.services
    engine = services.scheduler.engine
    voice = services.library.choose("Demo", emotion="greeting").voice_state
    routes: dict[str, Callable[[str], Any]] = {
        "socket pcm": lambda text: socket_request(server, text),
        "HTTP mp3": lambda text: http_request(server, text, "mp3"),
        "HTTP pcm": lambda text: http_request(server, text, "pcm"),
    }
    for language, text in FIRST_SENTENCES.items():
        for request in routes.values():
            await request(text)  # warm up
        raws: list[float] = []
        results: dict[str, list[dict[str, float]]] = {name: [] for name in routes}
        for _ in range(rounds):
            raws.append(await asyncio.to_thread(raw_first_chunk, engine, voice, text))
            for name, request in routes.items():
                results[name].append(await request(text))
        raw = statistics.median(raws)
        print(f"{language}: {text[:40]}... raw engine first chunk {raw * 1000:.0f} ms")
        print(f"   {'route':<12}{'TTFA':>8}{'/raw':>6}  " + "".join(f"{s:>10}" for s in STAGES))
        for name, runs in results.items():
            ttfa = statistics.median(sum(run.values()) for run in runs)
            parts = {s: statistics.median(run[s] for run in runs) for s in STAGES}
            print(f"   {name:<12}{ttfa * 1000:>6.0f}ms{ttfa / raw:>6.2f}  "
                  + "".join(f"{parts[s] * 1000:>8.1f}ms" for s in STAGES))
            print(f"   {'':<26}" + "".join(f"{parts[s] / ttfa:>10.0%}" for s in STAGES))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    install_probes()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data")
        try:
            asyncio.run(run(server, rounds))
        finally:
            server.stop()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

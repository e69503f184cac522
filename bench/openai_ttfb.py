"""Time to first byte of a streamed ``/v1/audio/speech`` over the engine's first-chunk time.

Starts a real server on a free loopback port (its own temporary data folder), then, one
after the other so they never compete for the CPU, times:
  raw    - the engine alone, in this process, making the first chunk of TEXT
           (``early_first_chunk``, the Demo group's greeting voice)
  server - POST /v1/audio/speech with the same text and voice, until the first byte of
           the body arrives (HTTP, voice lookup, scheduling, encoding), for mp3 and pcm
and prints medians, minimums and the ratios server/raw (target: at most 1.10).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.registry import load_engine  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402
from breathvoice.voices.library import VoiceLibrary  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402

TEXT = "今天天气很好，我们一起去公园散步吧。路上还可以买一杯热咖啡，慢慢地走回家。"
FORMATS = ("mp3", "pcm")
ROUNDS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = start_server(data, Path(tmp) / "server.log", BREATHVOICE_ENGINE_WORKERS="1")
        try:
            settings = Settings(data_dir=data)
            engine = load_engine(settings)
            voice = VoiceLibrary(settings.voices_dir, engine).choose("Demo").voice_state
            url = f"{server.base_url}/v1/audio/speech"

            def raw() -> float:
                start = time.perf_counter()
                chunks = engine.synthesize(TEXT, voice, SynthesisOptions(early_first_chunk=True))
                next(iter(chunks))
                elapsed = time.perf_counter() - start
                getattr(chunks, "close", lambda: None)()
                return elapsed

            def first_byte(fmt: str) -> float:
                body = {"model": "tts-1", "input": TEXT, "voice": "Demo", "response_format": fmt}
                start = time.perf_counter()
                with httpx.stream("POST", url, json=body, timeout=120) as r:
                    r.raise_for_status()
                    pieces = r.iter_raw()
                    next(pieces)
                    elapsed = time.perf_counter() - start
                    for _ in pieces:  # let the job finish before the next measurement
                        pass
                return elapsed

            raw()  # warm up both
            for fmt in FORMATS:
                first_byte(fmt)
            raws: list[float] = []
            servers: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
            for _ in range(ROUNDS):  # alternate, so drift hits both alike
                raws.append(raw())
                for fmt in FORMATS:
                    servers[fmt].append(first_byte(fmt))
        finally:
            stop_server(server)
    print(f"text: {len(TEXT)} chars, two sentences, {ROUNDS} rounds each")
    print("(the minimum is the run least disturbed by other work on the machine)")
    print(f"{'':30}{'median':>10}{'min':>10}{'ratio (median)':>16}{'ratio (min)':>13}")
    _row("raw engine, first chunk", raws, raws)
    for fmt in FORMATS:
        _row(f"/v1/audio/speech {fmt}, TTFB", servers[fmt], raws)


def _row(label: str, times: list[float], raws: list[float]) -> None:
    median, best = statistics.median(times), min(times)
    print(f"{label:30}{median * 1000:8.1f}ms{best * 1000:8.1f}ms"
          f"{median / statistics.median(raws):16.3f}{best / min(raws):13.3f}")

if __name__ == "__main__":
    main()

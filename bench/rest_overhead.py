"""REST overhead: single-tts wall time over raw engine time, same text, same run.

Starts a real server on a free loopback port (its own temporary data folder), then, one
after the other so they never compete for the CPU, times:
  raw    - the engine alone synthesising TEXT with the Demo group's greeting voice
  server - POST /breathvoice/single-tts with the same text (HTTP, scheduling, WAV, disk)
and prints the medians and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.registry import load_engine  # noqa: E402
from breathvoice.settings import Settings  # noqa: E402
from breathvoice.voices.library import VoiceLibrary  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402

TEXT = "你好，欢迎来到我们的世界！今天我们一起试一试这个新的声音。"
ROUNDS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = start_server(data, Path(tmp) / "server.log", BREATHVOICE_ENGINE_WORKERS="1")
        try:
            settings = Settings(data_dir=data)
            engine = load_engine(settings)
            voice = VoiceLibrary(settings.voices_dir, engine).choose(
                "Demo", filename="greeting.wav").voice_state
            url = f"{server.base_url}/breathvoice/single-tts"
            body = {"text": TEXT, "filename": "greeting_bench.wav", "voice_group_id": "Demo"}

            def raw() -> float:
                start = time.perf_counter()
                for _ in engine.synthesize(TEXT, voice, SynthesisOptions()):
                    pass
                return time.perf_counter() - start

            def rest() -> float:
                start = time.perf_counter()
                r = requests.post(url, json=body, timeout=120)
                r.raise_for_status()
                return time.perf_counter() - start

            raw(), rest()  # warm up both
            raws, rests = [], []
            for _ in range(ROUNDS):  # alternate, so drift hits both alike
                raws.append(raw())
                rests.append(rest())
        finally:
            stop_server(server)
    raw_s, rest_s = statistics.median(raws), statistics.median(rests)
    print(f"text: {len(TEXT)} chars, {ROUNDS} rounds each, medians")
    print(f"raw engine          {raw_s * 1000:8.1f} ms")
    print(f"single-tts (HTTP)   {rest_s * 1000:8.1f} ms")
    print(f"ratio server/raw    {rest_s / raw_s:8.3f}")


if __name__ == "__main__":
    main()

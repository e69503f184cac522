"""Fuzz the WebSocket message parser and the session behind it.

    python bench/fuzz/fuzz_ws_messages.py [-max_total_time=300] [corpus_dir]

Each input is split into frames, which a fresh :class:`Session` receives as the pump
would hand them over (text frames, then binary ones); synthesis is answered at once.
Any exception out of the session is a crash: bad frames must become error messages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from breathvoice.streaming.actions import SessionConfig, StartSynthesis
    from breathvoice.streaming.session import Session
    from multi_ws_tts_sdk.protocol import ProtocolError, parse_client_message

from _harness import run  # noqa: E402

CONFIG = SessionConfig(emotions=("greeting", "angry"), max_contexts=3)
SEEDS = [
    json.dumps({"text": "Hello, world. ", "context_id": "a", "flush": True}).encode(),
    json.dumps({"text": " ", "voice_settings": {"speed": 1.1}, "xi_api_key": "k"}).encode(),
    b'{"context_id": "a", "close_context": true}\x00{"close_socket": true}',
    b'{"text": "x", "contextId": "b", "emotion": "angry", "generation_config": '
    b'{"chunk_length_schedule": [50, 90]}}\x00{"keep_alive": true, "context_id": "b"}',
]


def test_one_input(data: bytes) -> None:
    session = Session(CONFIG, now=0.0)
    for step, frame in enumerate(data.split(b"\x00")[:16]):
        try:
            parse_client_message(frame)
        except ProtocolError:
            pass
        text = frame.decode("utf-8", "replace")
        session.receive(text if step % 2 == 0 else frame, now=float(step))
        for action in session.actions():
            if isinstance(action, StartSynthesis):
                session.synthesis_chunk(action.generation_id, b"\x00\x01")
                session.synthesis_done(action.generation_id)
        session.tick(float(step) + 0.5)
    session.connection_lost()
    session.actions()


if __name__ == "__main__":
    run(test_one_input, SEEDS)

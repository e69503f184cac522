"""Admission when live demand is over capacity: ``reject`` answers 503 with Retry-After on
REST and a ``SERVER_BUSY`` error on the socket; the default, ``degrade``, serves everyone."""

from __future__ import annotations

import json

from conftest import AppFactory
from tone_engine import ToneEngine

SPEECH = "/v1/audio/speech"
SOCKET = "/v1/text-to-speech/Demo/multi-stream-input?output_format=pcm_24000"
LONG = "one, two, three, four, five, six, seven, eight, nine, ten."


def body(text: str) -> dict[str, str]:
    return {"model": "tts-1", "input": text, "voice": "Demo", "response_format": "pcm"}


def test_reject_refuses_a_live_request_over_capacity(app: AppFactory) -> None:
    engine = ToneEngine(seconds_per_chunk=0.3)
    with app(engine, admission="reject", max_live_jobs=1) as client:
        with client.stream("POST", SPEECH, json=body(LONG)) as first:
            assert first.status_code == 200  # speaking, ten chunks to go
            busy = client.post(SPEECH, json=body("hello."))
            assert busy.status_code == 503
            assert int(busy.headers["Retry-After"]) >= 1
            assert "capacity" in busy.json()["error"]["message"]
            with client.websocket_connect(SOCKET) as ws:
                ws.send_text(json.dumps({"text": "hello.", "context_id": "a", "flush": True}))
                error = json.loads(ws.receive_text())
            assert error["error"] == "SERVER_BUSY" and "retry" in error["message"], error
            assert error.get("contextId") == "a"
            first.read()
        again = client.post(SPEECH, json=body("hello."))  # room again
        assert again.status_code == 200 and len(again.content) > 0


def test_degrade_is_the_default_and_serves_everyone(app: AppFactory) -> None:
    engine = ToneEngine(seconds_per_chunk=0.05)
    with app(engine, max_live_jobs=1) as client:
        with client.stream("POST", SPEECH, json=body(LONG)) as first:
            second = client.post(SPEECH, json=body("hello."))
            assert second.status_code == 200 and len(second.content) > 0
            assert len(first.read()) > len(second.content)

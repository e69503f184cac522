"""The WebSocket pump in process, on the tone engine: handshake, errors, cancellation.

These run the real app (routes, session, scheduler, encoders) with Starlette's test
client, so they take milliseconds; ``test_ws_live.py`` drives the real engine over sockets.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from breathvoice.engines.base import AudioChunk, SynthesisOptions, VoiceState
from conftest import AppFactory, socket_refusal
from tone_engine import ToneEngine

V1 = "/v1/text-to-speech/Demo/multi-stream-input"
ENTERPRISE = "/enterprise/v1/tts/Demo/websocket/multi"


class CountingTone(ToneEngine):
    """The tone engine, counting the chunks it has produced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chunks = 0

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        for chunk in super().synthesize(text, voice, options):
            self.chunks += 1
            yield chunk


def send(ws: WebSocketTestSession, **message: Any) -> None:
    ws.send_text(json.dumps(message))


def until_final(ws: WebSocketTestSession, context: str) -> list[dict[str, Any]]:
    """Messages up to and including ``context``'s final."""
    messages = []
    while True:
        messages.append(json.loads(ws.receive_text()))
        if messages[-1].get("isFinal") and messages[-1].get("contextId") == context:
            return messages


@pytest.mark.parametrize("path", [V1, ENTERPRISE])
def test_both_paths_speak_with_alignment_per_message(app: AppFactory, path: str) -> None:
    with app() as client, client.websocket_connect(
        f"{path}?output_format=pcm_24000&format=pcm_24000&sync_alignment=true"
    ) as ws:
        send(ws, text="Hi, you.", context_id="a", flush=True)
        send(ws, context_id="a", close_context=True)
        messages = until_final(ws, "a")
    audio = messages[:-1]
    assert messages[-1] == {"isFinal": True, "contextId": "a"}
    chars = "".join("".join(m["alignment"]["chars"]) for m in audio if m.get("alignment"))
    assert chars == "Hi, you."
    pcm = b"".join(base64.b64decode(m["audio"]) for m in audio)
    assert len(pcm) == 2 * 8 * int(24000 * 0.06)  # 60 ms per character of the tone engine


@pytest.mark.parametrize("path", [V1, ENTERPRISE])
def test_the_handshake_says_how_many_contexts_may_be_open(app: AppFactory, path: str) -> None:
    with app() as client, client.websocket_connect(path) as default:
        pass
    with app(max_contexts_per_socket=2) as client, client.websocket_connect(path) as two:
        for i in range(3):
            send(two, text="Hi.", context_id=f"c{i}")
        refused = json.loads(two.receive_text())
    assert dict(default.extra_headers or [])[b"x-max-contexts"] == b"5"
    assert dict(two.extra_headers or [])[b"x-max-contexts"] == b"2"
    assert refused["error"] == "MAX_CONTEXT_LIMIT_EXCEEDED" and refused["contextId"] == "c2"


def test_an_emotion_chosen_by_a_context_is_looked_up_and_spoken(app: AppFactory) -> None:
    with app() as client, client.websocket_connect(V1) as ws:
        send(ws, text="Come here.", context_id="e", emotion="b1_b2", flush=True)
        send(ws, context_id="e", close_context=True)
        messages = until_final(ws, "e")
    assert not [m for m in messages if "error" in m]
    assert sum(len(m.get("audio", "")) for m in messages) > 1000


def test_refusals_name_the_problem_and_close_with_1008(app: AppFactory) -> None:
    with app() as client:
        assert socket_refusal(client, "/v1/text-to-speech/Nobody/multi-stream-input") == (
            {"error": "VOICE_NOT_FOUND", "message": "Voice group 'Nobody' not found"}, 1008)
        message, code = socket_refusal(client, f"{V1}?output_format=wav_12345")
        assert (message["error"], code) == ("INVALID_REQUEST", 1008)
        message, code = socket_refusal(client, f"{V1}?emotion=furious")
        assert (message["error"], code) == ("INVALID_REQUEST", 1008)
        assert "greeting" in message["message"]


def test_with_keys_configured_only_a_known_key_gets_in(app: AppFactory) -> None:
    with app(api_keys=["k-123"]) as client:
        for headers in ({}, {"xi-api-key": "nope"}, {"api-key": "k-12"}):
            message, code = socket_refusal(client, V1, **headers)
            assert (message["error"], code) == ("INVALID_API_KEY", 1008)
        # the key is checked first
        message, code = socket_refusal(client, f"{V1}?output_format=nope")
        assert (message["error"], code) == ("INVALID_API_KEY", 1008)
        for url, headers in ((V1, {"xi-api-key": "k-123"}), (ENTERPRISE, {"api-key": "k-123"}),
                             (f"{V1}?authorization=Bearer%20k-123", {})):
            with client.websocket_connect(url, headers=headers) as ws:
                send(ws, text="Ok.", context_id="a", flush=True)
                send(ws, context_id="a", close_context=True)
                assert "audio" in until_final(ws, "a")[0]


def test_an_oversized_message_gets_an_error_and_the_socket_goes_on(app: AppFactory) -> None:
    with app(max_ws_message_bytes=2048) as client, client.websocket_connect(V1) as ws:
        send(ws, text="x" * 3000, context_id="big", flush=True)
        assert json.loads(ws.receive_text())["error"] == "PAYLOAD_TOO_LARGE"
        send(ws, text="Ok.", context_id="a", flush=True)
        send(ws, context_id="a", close_context=True)
        assert "audio" in until_final(ws, "a")[0]


def test_an_engine_failure_is_reported_for_its_context_only(app: AppFactory) -> None:
    with app(ToneEngine(fail_on="boom")) as client, client.websocket_connect(V1) as ws:
        send(ws, text="boom.", context_id="bad", flush=True)
        send(ws, text="Fine.", context_id="bad", flush=True)
        send(ws, context_id="bad", close_context=True)
        messages = until_final(ws, "bad")
    errors = [m for m in messages if "error" in m]
    assert [(e["error"], e["contextId"]) for e in errors] == [("STREAMING_SERVICE_ERROR", "bad")]
    assert any("audio" in m for m in messages)


def test_close_socket_finishes_the_audio_then_closes_with_1000(app: AppFactory) -> None:
    with app() as client, client.websocket_connect(V1) as ws:
        send(ws, text="One, two.", context_id="a")
        send(ws, close_socket=True)
        messages = until_final(ws, "a")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1000
    assert any("audio" in m for m in messages)


def test_a_dropped_connection_stops_its_synthesis(app: AppFactory) -> None:
    engine = CountingTone(seconds_per_chunk=0.02)
    with app(engine) as client:
        with client.websocket_connect(V1) as ws:
            engine.chunks = 0
            send(ws, text="a, " * 200, context_id="long", flush=True)
            ws.receive_text()  # audio is flowing
        time.sleep(0.2)
        stopped_at = engine.chunks
        time.sleep(0.2)
        assert engine.chunks == stopped_at < 50

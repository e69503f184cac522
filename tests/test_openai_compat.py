"""The official ``openai`` SDK against a real server: speech in every format, errors, keys.

The headers are also checked in process, on the tone engine.
"""

from __future__ import annotations

import base64
import json
import time

import httpx
import openai
import pytest

from audio_checks import check_wav
from conftest import AppFactory
from decoding import check_speech, decode
from zips import upload_group

TEXT = "Good morning."
FORMATS = ["mp3", "wav", "pcm", "flac", "opus", "aac"]
RATES = {"mp3": 24000, "wav": 24000, "pcm": 24000, "flac": 24000, "opus": 48000, "aac": 24000}


def client_for(server, api_key: str = "unused") -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture(scope="module")
def seconds_of_text(live_server) -> float:  # type: ignore[no-untyped-def]
    """How long TEXT lasts, from a plain HTTP request for WAV (the engine is deterministic)."""
    r = httpx.post(f"{live_server.base_url}/v1/audio/speech", timeout=120, json={
        "model": "tts-1", "input": TEXT, "voice": "Demo", "response_format": "wav"})
    assert r.status_code == 200, r.text
    samples, rate = decode("wav", r.content)
    return len(samples) / rate


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.slow
def test_create_returns_audio_in_the_asked_format(live_server, seconds_of_text: float,  # type: ignore[no-untyped-def]
                                                  fmt: str) -> None:
    response = client_for(live_server).audio.speech.create(
        model="tts-1", voice="Demo", input=TEXT, response_format=fmt)  # type: ignore[arg-type]
    samples, rate = decode(fmt, response.content)
    assert rate == RATES[fmt]
    check_speech(samples, rate, seconds_of_text)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.slow
def test_streaming_response_decodes_the_same(live_server, seconds_of_text: float,  # type: ignore[no-untyped-def]
                                             fmt: str) -> None:
    with client_for(live_server).audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice={"id": "Demo"}, input=TEXT, speed=1.0,
        instructions="Speak cheerfully.", response_format=fmt,  # type: ignore[arg-type]
    ) as response:
        assert response.headers["content-type"].startswith("audio/")
        data = b"".join(response.iter_bytes())
    samples, rate = decode(fmt, data)
    assert rate == RATES[fmt]
    check_speech(samples, rate, seconds_of_text)


@pytest.mark.slow
def test_first_audio_arrives_long_before_the_end(live_server) -> None:  # type: ignore[no-untyped-def]
    text = "The sun is up. The birds are singing. It is going to be a fine day."
    started = time.perf_counter()
    first = None
    pieces = []
    with client_for(live_server).audio.speech.with_streaming_response.create(
        model="tts-1", voice="Demo:B3_B4", input=text, response_format="pcm",
    ) as response:
        assert response.headers["x-voice-emotion"] == "B3_B4"
        assert response.headers["x-voice-method"] == "stock"
        for piece in response.iter_bytes():
            first = first or time.perf_counter() - started
            pieces.append(piece)
    total = time.perf_counter() - started
    assert first is not None and first < 0.7 * total, (first, total)
    samples, rate = decode("pcm", b"".join(pieces))
    check_speech(samples, rate, len(samples) / rate)


@pytest.mark.slow
def test_sse_stream_carries_base64_audio_then_done(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.stream("POST", f"{live_server.base_url}/v1/audio/speech", timeout=120, json={
        "model": "gpt-4o-mini-tts", "input": TEXT, "voice": "Demo", "response_format": "wav",
        "stream_format": "sse",
    }) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in r.iter_lines()
                  if line.startswith("data: ")]
    assert [e["type"] for e in events[-1:]] == ["speech.audio.done"]
    assert {e["type"] for e in events[:-1]} == {"speech.audio.delta"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    samples, rate = decode("wav", audio)
    assert rate == 24000 and len(samples) > rate // 2


@pytest.mark.slow
def test_unknown_voice_is_404_in_openai_error_shape(live_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(live_server).audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    error = caught.value
    assert error.code == "voice_not_found" and error.param == "voice"
    assert error.type == "invalid_request_error"
    assert "alloy" in error.message and str(live_server.data_dir) not in error.message


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "tts-1", "input": TEXT, "voice": "Demo:no_such_emotion"}, None),
    ({"model": "tts-1", "input": TEXT, "voice": "Demo", "response_format": "ogg"},
     "response_format"),
    ({"model": "tts-1", "voice": "Demo"}, "input"),
    ({"model": "tts-1", "input": "   ", "voice": "Demo"}, None),
    ({"model": "tts-1", "input": TEXT, "voice": "Demo", "speed": 9}, "speed"),
])
@pytest.mark.slow
def test_bad_requests_are_400_with_the_offending_param(live_server, body: dict[str, object],  # type: ignore[no-untyped-def]
                                                       param: str | None) -> None:
    r = httpx.post(f"{live_server.base_url}/v1/audio/speech", json=body, timeout=30)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["param"] == param and error["message"]


@pytest.mark.slow
def test_models_and_voices_are_listed(live_server) -> None:  # type: ignore[no-untyped-def]
    models = [model.id for model in client_for(live_server).models.list()]
    assert "tts-1" in models and "gpt-4o-mini-tts" in models
    voices = httpx.get(f"{live_server.base_url}/v1/audio/voices", timeout=30).json()
    demo = next(v for v in voices["data"] if v["id"] == "Demo")
    assert demo["object"] == "audio.voice" and "B1_B2" in demo["emotions"]
    assert {"Demo", "Demo:greeting", "Demo:B1_B2"} <= set(voices["voices"])


@pytest.mark.slow
def test_a_key_is_required_when_keys_are_configured(live_server_with_keys) -> None:  # type: ignore[no-untyped-def]
    server = live_server_with_keys
    with pytest.raises(openai.AuthenticationError) as caught:
        client_for(server, api_key="wrong").models.list()
    assert caught.value.code == "invalid_api_key"
    r = httpx.post(f"{server.base_url}/v1/audio/speech", timeout=30,
                   json={"model": "tts-1", "input": TEXT, "voice": "Demo"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert [m.id for m in client_for(server, api_key=server.api_key).models.list()]


def test_the_voice_method_header_says_how_the_group_speaks(app: AppFactory) -> None:
    with app() as client:  # Demo speaks with stock voices; an upload with its own ("tone")
        upload_group(client, "Hero")
        for voice, method in [("Demo", "stock"), ("Hero:B1_B2", "tone")]:
            body = {"model": "tts-1", "input": TEXT, "voice": voice, "response_format": "wav"}
            r = client.post("/v1/audio/speech", json=body)
            assert r.status_code == 200, r.text
            assert r.headers["x-voice-method"] == method
            check_wav(r.content)
            r = client.post("/v1/audio/speech", json={**body, "stream_format": "sse"})
            assert r.status_code == 200 and r.headers["x-voice-method"] == method
            assert r.text.rstrip().endswith('data: {"type": "speech.audio.done"}')

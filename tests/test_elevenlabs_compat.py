"""The official ``elevenlabs`` SDK against a real server: audio, timestamps, voices, errors.

The headers are also checked in process, on the tone engine.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from elevenlabs import ElevenLabs, VoiceSettings
from elevenlabs.core.api_error import ApiError

from audio_checks import check_wav
from conftest import AppFactory
from decoding import check_speech, decode
from zips import upload_group

TEXT = "Hi there. How are you?"


def client_for(server, api_key: str | None = None) -> ElevenLabs:  # type: ignore[no-untyped-def]
    return ElevenLabs(base_url=server.base_url, api_key=api_key, timeout=120)


@pytest.mark.slow
def test_convert_gives_mp3_at_the_asked_rate(live_server) -> None:  # type: ignore[no-untyped-def]
    audio = client_for(live_server).text_to_speech.convert(
        "Demo", text=TEXT, model_id="eleven_multilingual_v2", output_format="mp3_44100_128",
        language_code="en", seed=7, previous_text="Well.", next_text="Fine.",
        voice_settings=VoiceSettings(stability=0.5, similarity_boost=0.8, speed=1.0),
    )
    samples, rate = decode("mp3", b"".join(audio))
    assert rate == 44100
    check_speech(samples, rate, len(samples) / rate)
    assert len(samples) / rate > 1.0


@pytest.mark.slow
def test_stream_gives_raw_pcm_at_16_khz(live_server) -> None:  # type: ignore[no-untyped-def]
    pieces = list(client_for(live_server).text_to_speech.stream(
        "Demo:B1_B2", text=TEXT, model_id="eleven_flash_v2_5", output_format="pcm_16000"))
    samples, rate = decode("pcm", b"".join(pieces), pcm_rate=16000)
    check_speech(samples, rate, len(samples) / rate)
    assert len(samples) / rate > 1.0


def _check_alignment(characters: list[str], starts: list[float], ends: list[float],
                     seconds: float) -> None:
    assert "".join(characters) == TEXT
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(0 <= start <= end for start, end in zip(starts, ends, strict=True))
    assert ends[-1] == pytest.approx(seconds, abs=0.1)
    assert starts[TEXT.index("How")] > ends[TEXT.index(".")]  # a pause between sentences


@pytest.mark.slow
def test_with_timestamps_aligns_every_character(live_server) -> None:  # type: ignore[no-untyped-def]
    response = client_for(live_server).text_to_speech.convert_with_timestamps(
        "Demo", text=TEXT, output_format="pcm_24000")
    samples, rate = decode("pcm", base64.b64decode(response.audio_base_64))
    check_speech(samples, rate, len(samples) / rate)
    alignment = response.alignment
    assert alignment is not None and response.normalized_alignment is not None
    _check_alignment(alignment.characters, alignment.character_start_times_seconds,
                     alignment.character_end_times_seconds, len(samples) / rate)


@pytest.mark.slow
def test_stream_with_timestamps_sends_audio_and_alignment_in_pieces(live_server) -> None:  # type: ignore[no-untyped-def]
    chunks = list(client_for(live_server).text_to_speech.stream_with_timestamps(
        "Demo", text=TEXT, output_format="mp3_22050_32"))
    assert len(chunks) >= 2
    characters: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    for chunk in chunks:
        if chunk.alignment is not None:
            characters += chunk.alignment.characters
            starts += chunk.alignment.character_start_times_seconds
            ends += chunk.alignment.character_end_times_seconds
    audio = b"".join(base64.b64decode(chunk.audio_base_64) for chunk in chunks)
    samples, rate = decode("mp3", audio)
    assert rate == 22050
    _check_alignment(characters, starts, ends, len(samples) / rate)


@pytest.mark.slow
def test_unknown_voice_is_404_in_elevenlabs_error_shape(live_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as caught:
        b"".join(client_for(live_server).text_to_speech.convert("NoSuchVoice", text=TEXT))
    assert caught.value.status_code == 404
    assert caught.value.body["detail"]["status"] == "voice_not_found"
    assert "NoSuchVoice" in caught.value.body["detail"]["message"]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/text-to-speech/Demo?output_format=mp3_1_2", {"text": TEXT}),
    ("/v1/text-to-speech/Demo/stream", {"text": ""}),
    ("/v1/text-to-speech/Demo/with-timestamps", {"model_id": "eleven_flash_v2_5"}),
    ("/v1/text-to-speech/Demo:no_such_emotion/stream/with-timestamps", {"text": TEXT}),
])
@pytest.mark.slow
def test_bad_requests_are_400_with_a_detail(live_server, path: str,  # type: ignore[no-untyped-def]
                                            body: dict[str, str]) -> None:
    r = httpx.post(f"{live_server.base_url}{path}", json=body, timeout=30)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail["status"] == "invalid_request" and detail["message"]


@pytest.mark.slow
def test_voice_groups_are_listed_as_voices(live_server) -> None:  # type: ignore[no-untyped-def]
    client = client_for(live_server)
    voices = {voice.voice_id: voice for voice in client.voices.get_all().voices}
    assert "Demo" in voices
    demo = client.voices.get("Demo")
    assert demo.name == "Demo" and demo.samples
    assert {sample.sample_id for sample in demo.samples} >= {"greeting", "B1_B2"}
    assert [model.model_id for model in client.models.list()]
    with pytest.raises(ApiError) as caught:
        client.voices.get("NoSuchVoice")
    assert caught.value.status_code == 404


@pytest.mark.slow
def test_xi_api_key_is_checked(live_server_with_keys) -> None:  # type: ignore[no-untyped-def]
    server = live_server_with_keys
    with pytest.raises(ApiError) as caught:
        client_for(server, api_key="wrong").voices.get_all()
    assert caught.value.status_code == 401
    assert caught.value.body["detail"]["status"] == "invalid_api_key"
    assert client_for(server, api_key=server.api_key).voices.get_all().voices


def test_the_voice_method_header_says_how_the_group_speaks(app: AppFactory) -> None:
    with app() as client:  # Demo speaks with stock voices; an upload with its own ("tone")
        upload_group(client, "Hero")
        for voice, method in [("Demo", "stock"), ("Hero:B1_B2", "tone")]:
            for route in ["", "/stream"]:
                r = client.post(f"/v1/text-to-speech/{voice}{route}?output_format=wav_24000",
                                json={"text": TEXT})
                assert r.status_code == 200, r.text
                assert r.headers["x-voice-method"] == method and r.headers["request-id"]
                check_wav(r.content)
            r = client.post(f"/v1/text-to-speech/{voice}/with-timestamps", json={"text": TEXT})
            assert r.status_code == 200 and r.headers["x-voice-method"] == method
            assert set(r.json()) == {"audio_base64", "alignment", "normalized_alignment"}
            r = client.post(f"/v1/text-to-speech/{voice}/stream/with-timestamps",
                            json={"text": TEXT})
            assert r.status_code == 200 and r.headers["x-voice-method"] == method
            pieces = [json.loads(line) for line in r.text.splitlines()]
            assert pieces and all(set(piece) == {"audio_base64", "alignment",
                                                 "normalized_alignment"} for piece in pieces)

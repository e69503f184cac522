"""The wire messages: what clients send and read, both field spellings, malformed input."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from multi_ws_tts_sdk import protocol
from multi_ws_tts_sdk.protocol import (
    Alignment,
    AudioOutput,
    CloseContext,
    CloseSocket,
    ErrorOutput,
    FinalOutput,
    GenerationConfig,
    KeepAlive,
    ProtocolError,
    SendText,
    VoiceSettings,
    parse_client_message,
    parse_server_message,
    serialize_client_message,
    serialize_server_message,
)

PROTOCOL_PACKAGE = Path(protocol.__file__).parent
ALIGNMENT = Alignment(("H", "i"), (0, 120), (120, 80))

CLIENT_MESSAGES = [
    SendText("Hello ", "c1"),
    SendText("Hello world. ", "c1", flush=True),
    SendText("", "c1", flush=True),
    SendText(" ", None),
    SendText(
        "你好。", "c2",
        voice_settings=VoiceSettings(speed=1.1, stability=0.5, similarity_boost=0.75,
                                     style=0.0, use_speaker_boost=True),
        generation_config=GenerationConfig(chunk_length_schedule=(50, 90, 120)),
        emotion="B1_B2",
    ),
    SendText(" ", "c3", voice_settings=VoiceSettings(), generation_config=GenerationConfig()),
    KeepAlive("c1"),
    KeepAlive(),
    CloseContext("c1"),
    CloseContext(),
    CloseSocket(),
]

SERVER_MESSAGES = [
    AudioOutput(b"\x00\x01\xff" * 10, "c1"),
    AudioOutput(b"pcm", "c1", alignment=ALIGNMENT, normalized_alignment=ALIGNMENT),
    AudioOutput(b"pcm", None),
    FinalOutput("c1"),
    FinalOutput(),
    ErrorOutput("MAX_CONTEXT_LIMIT_EXCEEDED", "too many contexts", "c6"),
    ErrorOutput("INPUT_TIMEOUT_EXCEEDED", "no input"),
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=repr)
def test_every_client_message_survives_a_round_trip(message: protocol.ClientMessage) -> None:
    frame = serialize_client_message(message)
    assert parse_client_message(frame) == message
    assert parse_client_message(frame.encode()) == message
    assert parse_client_message(json.loads(frame)) == message
    assert type(message).from_dict(json.loads(frame)) == message


@pytest.mark.parametrize("message", SERVER_MESSAGES, ids=repr)
def test_every_server_message_survives_a_round_trip(message: protocol.ServerMessage) -> None:
    frame = serialize_server_message(message)
    assert parse_server_message(frame) == message
    assert type(message).from_dict(json.loads(frame)) == message


def test_client_frames_use_elevenlabs_snake_case() -> None:
    assert json.loads(serialize_client_message(SendText("Hi ", "c1", flush=True))) == {
        "text": "Hi ", "context_id": "c1", "flush": True}
    assert json.loads(serialize_client_message(KeepAlive("c1"))) == {
        "text": "", "context_id": "c1"}
    assert json.loads(serialize_client_message(CloseContext("c1"))) == {
        "context_id": "c1", "close_context": True}
    assert json.loads(serialize_client_message(CloseSocket())) == {"close_socket": True}


def test_server_frames_use_camel_case_and_finals_carry_no_audio() -> None:
    audio = json.loads(serialize_server_message(AudioOutput(b"abc", "c1", ALIGNMENT)))
    assert audio["contextId"] == "c1" and audio["isFinal"] is False
    assert base64.b64decode(audio["audio"]) == b"abc"
    assert audio["alignment"]["chars"] == ["H", "i"]
    assert audio["alignment"]["charStartTimesMs"] == [0, 120]
    assert audio["alignment"]["charsDurationsMs"] == [120, 80]
    assert "normalizedAlignment" not in audio and "context_id" not in audio
    assert json.loads(serialize_server_message(FinalOutput("c1"))) == {
        "isFinal": True, "contextId": "c1"}


def test_errors_name_their_context_in_both_spellings() -> None:
    error = json.loads(serialize_server_message(ErrorOutput("INVALID_REQUEST", "bad", "c1")))
    assert error == {"error": "INVALID_REQUEST", "message": "bad",
                     "contextId": "c1", "context_id": "c1"}
    assert json.loads(serialize_server_message(ErrorOutput("X", "y"))) == {
        "error": "X", "message": "y"}


def test_client_messages_accept_camel_case_and_nulls() -> None:
    assert parse_client_message({"text": "Hi", "contextId": "c1"}) == SendText("Hi", "c1")
    assert parse_client_message({"text": "Hi", "context_id": None, "flush": None,
                                 "voice_settings": None, "generation_config": None,
                                 "emotion": None}) == SendText("Hi")
    assert parse_client_message({"contextId": "c1", "close_context": True}) == CloseContext("c1")
    assert parse_client_message({"text": "Hi", "voice_settings": {}}) == SendText(
        "Hi", voice_settings=VoiceSettings())


def test_elevenlabs_client_shapes_are_classified() -> None:
    assert parse_client_message({"text": " "}) == SendText(" ")  # single-stream opening
    assert parse_client_message({"text": ""}) == KeepAlive()
    assert parse_client_message({"context_id": "c1", "flush": True}) == SendText(
        "", "c1", flush=True)
    assert parse_client_message({"context_id": "c1", "flush": False}) == KeepAlive("c1")
    assert parse_client_message({"context_id": "c1", "text": "", "close_context": True}) == (
        CloseContext("c1"))
    assert parse_client_message({"close_socket": True, "context_id": "c1"}) == CloseSocket()
    unknown_fields = {"text": "Hi ", "context_id": "c1", "xi_api_key": "k",
                      "try_trigger_generation": True, "pronunciation_dictionary_locators": []}
    assert parse_client_message(unknown_fields) == SendText("Hi ", "c1")


def test_schedule_values_are_rounded_up_to_whole_characters() -> None:
    message = parse_client_message(
        {"text": "x", "generation_config": {"chunk_length_schedule": [50, 80.2]}})
    assert isinstance(message, SendText) and message.generation_config is not None
    assert message.generation_config.chunk_length_schedule == (50, 81)


@pytest.mark.parametrize("frame", [
    "not json", "[1, 2]", '"text"', "", "{", b"\xff\xfe", "[" * 100_000,
    {}, {"context_id": "c1"},
    {"text": 5}, {"text": None, "context_id": "c1"}, {"text": ["a"]},
    {"text": "a", "context_id": 7}, {"text": "a", "context_id": ""},
    {"text": "a", "context_id": "x" * 257},
    {"text": "a", "flush": "true"}, {"close_context": 1, "context_id": "c"},
    {"close_socket": "yes"},
    {"text": "a", "voice_settings": "fast"}, {"text": "a", "voice_settings": {"speed": "1"}},
    {"text": "a", "voice_settings": {"speed": 9}}, {"text": "a", "voice_settings": {"speed": 0}},
    {"text": "a", "voice_settings": {"speed": True}},
    {"text": "a", "voice_settings": {"stability": 2}},
    {"text": "a", "voice_settings": {"use_speaker_boost": "yes"}},
    {"text": "a", "generation_config": []},
    {"text": "a", "generation_config": {"chunk_length_schedule": 120}},
    {"text": "a", "generation_config": {"chunk_length_schedule": []}},
    {"text": "a", "generation_config": {"chunk_length_schedule": [0]}},
    {"text": "a", "generation_config": {"chunk_length_schedule": ["120"]}},
    {"text": "a", "generation_config": {"chunk_length_schedule": [120] * 33}},
    {"text": "a", "emotion": ""}, {"text": "a", "emotion": 3}, {"text": "a", "emotion": "e" * 65},
])
def test_malformed_client_messages_raise_protocol_error(frame: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(frame)  # type: ignore[arg-type]
    assert str(caught.value) and "Traceback" not in str(caught.value)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_client_message('{"text": "a", "voice_settings": {"speed": NaN}}')
    with pytest.raises(ProtocolError):
        parse_client_message('{"text": "a", "voice_settings": {"speed": Infinity}}')


def test_server_messages_accept_both_spellings() -> None:
    audio = base64.b64encode(b"abc").decode()
    assert parse_server_message({"audio": audio, "context_id": "c1", "is_final": False}) == (
        AudioOutput(b"abc", "c1"))
    assert parse_server_message({"audio": audio, "contextId": "c1", "isFinal": None}) == (
        AudioOutput(b"abc", "c1"))
    assert parse_server_message({"is_final": True, "context_id": "c1"}) == FinalOutput("c1")
    assert parse_server_message({"isFinal": True, "audio": None, "contextId": "c1"}) == (
        FinalOutput("c1"))
    assert parse_server_message({"isFinal": True, "audio": "", "contextId": "c1"}) == (
        FinalOutput("c1"))
    # an older server that marks the last audio chunk itself
    assert parse_server_message({"audio": audio, "context_id": "c1", "is_final": True}) == (
        AudioOutput(b"abc", "c1", is_final=True))
    assert parse_server_message({"error": "max_active_conversations", "message": "m",
                                 "code": 1008}) == ErrorOutput("max_active_conversations", "m")
    assert parse_server_message({"error": "E", "context_id": "c2"}) == ErrorOutput("E", "", "c2")


def test_alignment_accepts_every_spelling_seen_in_the_wild() -> None:
    for durations in ("charsDurationsMs", "charDurationsMs", "char_durations_ms"):
        for starts in ("charStartTimesMs", "charsStartTimesMs", "char_start_times_ms"):
            data = {"chars": ["H", "i"], starts: [0, 120], durations: [120, 80]}
            assert Alignment.from_dict(data) == ALIGNMENT


@pytest.mark.parametrize("frame", [
    "nope", {}, {"contextId": "c1"}, {"isFinal": False}, {"audio": None},
    {"audio": "%%%not base64", "contextId": "c1"}, {"audio": 5},
    {"audio": "AAAA", "contextId": 5}, {"audio": "AAAA", "isFinal": "no"},
    {"audio": "AAAA", "alignment": {"chars": ["a"], "charStartTimesMs": [0]}},
    {"audio": "AAAA", "alignment": {"chars": ["a", "b"], "charStartTimesMs": [0],
                                    "charsDurationsMs": [1]}},
    {"audio": "AAAA", "alignment": {"chars": [1], "charStartTimesMs": [0],
                                    "charsDurationsMs": [1]}},
    {"audio": "AAAA", "alignment": {"chars": ["a"], "charStartTimesMs": [-1],
                                    "charsDurationsMs": [1]}},
    {"audio": "AAAA", "alignment": "yes"},
])
def test_malformed_server_messages_raise_protocol_error(frame: object) -> None:
    with pytest.raises(ProtocolError):
        parse_server_message(frame)  # type: ignore[arg-type]


def test_protocol_modules_are_python_3_8_syntax() -> None:
    sources = sorted(PROTOCOL_PACKAGE.glob("*.py"))
    assert len(sources) >= 2
    for source in sources:
        ast.parse(source.read_text(), str(source), feature_version=(3, 8))


def _python38() -> str | None:
    for candidate in ("python3.8", str(Path.home() / ".pyenv/versions/3.8.18/bin/python")):
        found = shutil.which(candidate)
        if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
            return found
    return None


@pytest.mark.skipif(_python38() is None, reason="no Python 3.8 interpreter here")
def test_protocol_module_runs_on_python_3_8(tmp_path: Path) -> None:
    # A copy of the protocol package alone: the rest of the SDK needs packages 3.8 lacks here.
    shutil.copytree(PROTOCOL_PACKAGE, tmp_path / "wire",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = """
import sys
import typing
sys.path.insert(0, ".")
import wire as p
m = p.parse_client_message('{"text": "Hi", "contextId": "c", "voice_settings": {"speed": 1.2}}')
assert p.parse_client_message(p.serialize_client_message(m)) == m
a = p.AudioOutput(b"x", "c", p.Alignment(("x",), (0,), (5,)))
assert p.parse_server_message(p.serialize_server_message(a)) == a
for cls in (p.SendText, p.AudioOutput, p.ErrorOutput, p.VoiceSettings, p.Alignment):
    typing.get_type_hints(cls)
"""
    result = subprocess.run([str(_python38()), "-I", "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

# The SDK runs on Python 3.8, so annotations use typing.Optional/List/Tuple/Union.
# ruff: noqa: UP006, UP007, UP035, UP045
"""The wire messages of the multi-context text-to-speech WebSocket (ElevenLabs' protocol).

Client → server (JSON text frames; clients write ``context_id``)::

    SendText      {"text": "Hello ", "context_id": "c1", "flush"?: true,
                   "voice_settings"?: {...}, "generation_config"?: {...}, "emotion"?: "B1_B2"}
    KeepAlive     {"text": "", "context_id"?: "c1"}
    CloseContext  {"context_id": "c1", "close_context": true}
    CloseSocket   {"close_socket": true}

Server → client (always ``contextId`` and ``isFinal`` in camelCase)::

    AudioOutput   {"audio": "<base64>", "contextId": "c1", "isFinal": false,
                   "alignment"?: {...}, "normalizedAlignment"?: {...}}
    FinalOutput   {"isFinal": true, "contextId": "c1"}
    ErrorOutput   {"error": "CODE", "message": "...", "contextId"?: "c1", "context_id"?: "c1"}

Parsing accepts both spellings (``context_id``/``contextId``, ``is_final``/``isFinal``) and
raises :class:`ProtocolError`, whose text is safe to show to users, for anything malformed.
``emotion`` is an extension: it picks one of the voice group's emotions for the context.
A message without ``context_id`` addresses the context :data:`DEFAULT_CONTEXT_ID`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

__all__ = [
    "DEFAULT_CONTEXT_ID", "Alignment", "AudioOutput", "ClientMessage", "CloseContext",
    "CloseSocket", "ErrorOutput", "FinalOutput", "GenerationConfig", "KeepAlive",
    "ProtocolError", "SendText", "ServerMessage", "VoiceSettings", "context_id_in",
    "parse_client_message",
    "parse_server_message", "serialize_client_message", "serialize_server_message",
]

DEFAULT_CONTEXT_ID = "default"
"""The context of messages that carry no ``context_id`` (single-stream style clients)."""

MAX_CONTEXT_ID_CHARS = 256
MAX_EMOTION_CHARS = 64
MAX_SCHEDULE_ITEMS = 32
MAX_DICTIONARY_LOCATORS = 3

Json = Dict[str, Any]
RawMessage = Union[str, bytes, bytearray, Mapping[str, Any]]


class ProtocolError(ValueError):
    """A message that breaks the protocol; ``str(error)`` is safe to send to the user."""


def _load(raw: RawMessage) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    return data


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ProtocolError(f"'{key}' must be true or false")


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"'{name}' must be a number")
    if not low <= value <= high:
        raise ProtocolError(f"'{name}' must be between {low:g} and {high:g}")
    return float(value)


def _name(value: Any, name: str, max_chars: int) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise ProtocolError(f"'{name}' must be a non-empty string of at most {max_chars} chars")
    return value


def _context_id(data: Mapping[str, Any], *keys: str) -> Optional[str]:
    for key in keys:
        if data.get(key) is not None:
            return _name(data[key], "context_id", MAX_CONTEXT_ID_CHARS)
    return None


def _object(data: Mapping[str, Any], key: str) -> Optional[Mapping[str, Any]]:
    value = data.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise ProtocolError(f"'{key}' must be an object")


def _without_none(**fields: Any) -> Json:
    return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True)
class VoiceSettings:
    """ElevenLabs voice settings. BreathVOICE uses ``speed``; the others are accepted."""

    speed: Optional[float] = None
    stability: Optional[float] = None
    similarity_boost: Optional[float] = None
    style: Optional[float] = None
    use_speaker_boost: Optional[bool] = None

    def to_dict(self) -> Json:
        return _without_none(
            speed=self.speed, stability=self.stability, similarity_boost=self.similarity_boost,
            style=self.style, use_speaker_boost=self.use_speaker_boost,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoiceSettings:
        def number(key: str, low: float, high: float) -> Optional[float]:
            value = data.get(key)
            return None if value is None else _number(value, key, low, high)

        boost = data.get("use_speaker_boost")
        if boost is not None and not isinstance(boost, bool):
            raise ProtocolError("'use_speaker_boost' must be true or false")
        return cls(
            speed=number("speed", 0.25, 4.0),
            stability=number("stability", 0.0, 1.0),
            similarity_boost=number("similarity_boost", 0.0, 1.0),
            style=number("style", 0.0, 1.0),
            use_speaker_boost=boost,
        )


@dataclass(frozen=True)
class GenerationConfig:
    """When buffered text is spoken: after ``chunk_length_schedule[i]`` more characters."""

    chunk_length_schedule: Optional[Tuple[int, ...]] = None

    def to_dict(self) -> Json:
        schedule = self.chunk_length_schedule
        return _without_none(chunk_length_schedule=None if schedule is None else list(schedule))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationConfig:
        schedule = data.get("chunk_length_schedule")
        if schedule is None:
            return cls()
        if not isinstance(schedule, list) or not 1 <= len(schedule) <= MAX_SCHEDULE_ITEMS:
            raise ProtocolError(
                f"'chunk_length_schedule' must be a list of 1 to {MAX_SCHEDULE_ITEMS} numbers"
            )
        values = [math.ceil(_number(v, "chunk_length_schedule", 1, 5000)) for v in schedule]
        return cls(chunk_length_schedule=tuple(values))


@dataclass(frozen=True)
class SendText:
    """Text for a context (opening it if needed); ``flush`` speaks what is buffered now."""

    text: str
    context_id: Optional[str] = None
    flush: bool = False
    voice_settings: Optional[VoiceSettings] = None
    generation_config: Optional[GenerationConfig] = None
    emotion: Optional[str] = None
    pronunciation_dictionary_locators: Optional[Tuple[Json, ...]] = None
    """ElevenLabs' ``{pronunciation_dictionary_id, version_id}`` objects (a context's first
    message only); the server checks them."""

    def to_dict(self) -> Json:
        return _without_none(
            pronunciation_dictionary_locators=(
                None if self.pronunciation_dictionary_locators is None
                else [dict(item) for item in self.pronunciation_dictionary_locators]),
            text=self.text,
            context_id=self.context_id,
            flush=True if self.flush else None,
            voice_settings=None if self.voice_settings is None else self.voice_settings.to_dict(),
            generation_config=(
                None if self.generation_config is None else self.generation_config.to_dict()
            ),
            emotion=self.emotion,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SendText:
        text = data.get("text", "")
        if not isinstance(text, str):
            raise ProtocolError("'text' must be a string")
        settings = _object(data, "voice_settings")
        config = _object(data, "generation_config")
        return cls(
            text=text,
            context_id=_context_id(data, "context_id", "contextId"),
            flush=_flag(data, "flush"),
            voice_settings=None if settings is None else VoiceSettings.from_dict(settings),
            generation_config=None if config is None else GenerationConfig.from_dict(config),
            emotion=_name(data.get("emotion"), "emotion", MAX_EMOTION_CHARS),
            pronunciation_dictionary_locators=_locators(data),
        )


def _locators(data: Mapping[str, Any]) -> Optional[Tuple[Json, ...]]:
    items = data.get("pronunciation_dictionary_locators")
    if items is None:
        return None
    if (not isinstance(items, list) or len(items) > MAX_DICTIONARY_LOCATORS
            or not all(isinstance(item, dict) for item in items)):
        raise ProtocolError("'pronunciation_dictionary_locators' must be a list of at most "
                            f"{MAX_DICTIONARY_LOCATORS} objects")
    return tuple(items) or None


@dataclass(frozen=True)
class KeepAlive:
    """Resets the inactivity timer; generates nothing."""

    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        return _without_none(text="", context_id=self.context_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeepAlive:
        return cls(context_id=_context_id(data, "context_id", "contextId"))


@dataclass(frozen=True)
class CloseContext:
    """Ends a context: buffered text is still spoken, then its final message comes."""

    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        return _without_none(context_id=self.context_id, close_context=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloseContext:
        return cls(context_id=_context_id(data, "context_id", "contextId"))


@dataclass(frozen=True)
class CloseSocket:
    """Ends every context, waits for their audio, then closes the connection."""

    def to_dict(self) -> Json:
        return {"close_socket": True}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloseSocket:
        return cls()


@dataclass(frozen=True)
class Alignment:
    """When each character of the chunk's text is spoken, in ms from the chunk's start."""

    chars: Tuple[str, ...]
    char_start_times_ms: Tuple[int, ...]
    char_durations_ms: Tuple[int, ...]

    def to_dict(self) -> Json:
        # Readers in the wild use either duration key, so both are sent.
        return {
            "chars": list(self.chars),
            "charStartTimesMs": list(self.char_start_times_ms),
            "charsDurationsMs": list(self.char_durations_ms),
            "charDurationsMs": list(self.char_durations_ms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alignment:
        def column(*keys: str) -> List[Any]:
            for key in keys:
                if isinstance(data.get(key), list):
                    return list(data[key])
            raise ProtocolError(f"alignment lacks '{keys[0]}'")

        chars = column("chars")
        starts = column("charStartTimesMs", "charsStartTimesMs", "char_start_times_ms")
        durations = column(
            "charsDurationsMs", "charDurationsMs", "chars_durations_ms", "char_durations_ms"
        )
        if not len(chars) == len(starts) == len(durations):
            raise ProtocolError("alignment lists differ in length")
        if not all(isinstance(c, str) for c in chars):
            raise ProtocolError("alignment 'chars' must be strings")
        return cls(
            chars=tuple(chars),
            char_start_times_ms=tuple(round(_number(v, "alignment", 0, 1e9)) for v in starts),
            char_durations_ms=tuple(round(_number(v, "alignment", 0, 1e9)) for v in durations),
        )


@dataclass(frozen=True)
class AudioOutput:
    """A piece of a context's audio (``audio`` holds the raw bytes, base64 on the wire)."""

    audio: bytes
    context_id: Optional[str] = None
    alignment: Optional[Alignment] = None
    normalized_alignment: Optional[Alignment] = None
    is_final: bool = False

    def to_dict(self) -> Json:
        data: Json = {"audio": base64.b64encode(self.audio).decode("ascii")}
        data.update(_without_none(contextId=self.context_id))
        data["isFinal"] = self.is_final
        if self.alignment is not None:
            data["alignment"] = self.alignment.to_dict()
        if self.normalized_alignment is not None:
            data["normalizedAlignment"] = self.normalized_alignment.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudioOutput:
        encoded = data.get("audio")
        if not isinstance(encoded, str):
            raise ProtocolError("'audio' must be a base64 string")
        try:
            audio = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("'audio' is not valid base64") from None
        alignment = _object(data, "alignment")
        normalized = _object(data, "normalizedAlignment") or _object(data, "normalized_alignment")
        return cls(
            audio=audio,
            context_id=_context_id(data, "contextId", "context_id"),
            alignment=None if alignment is None else Alignment.from_dict(alignment),
            normalized_alignment=None if normalized is None else Alignment.from_dict(normalized),
            is_final=_flag(data, "isFinal") or _flag(data, "is_final"),
        )


@dataclass(frozen=True)
class FinalOutput:
    """The last message of a context: all its audio has been sent."""

    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        return _without_none(isFinal=True, contextId=self.context_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinalOutput:
        return cls(context_id=_context_id(data, "contextId", "context_id"))


@dataclass(frozen=True)
class ErrorOutput:
    """An error; with a context id it concerns that context only."""

    code: str
    message: str = ""
    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        data: Json = {"error": self.code, "message": self.message}
        if self.context_id is not None:
            data["contextId"] = data["context_id"] = self.context_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorOutput:
        message = data.get("message")
        return cls(
            code=str(data.get("error")),
            message="" if message is None else str(message),
            context_id=_context_id(data, "contextId", "context_id"),
        )


ClientMessage = Union[SendText, KeepAlive, CloseContext, CloseSocket]
ServerMessage = Union[AudioOutput, FinalOutput, ErrorOutput]

_CONTROL_KEYS = ("flush", "close_context", "close_socket")


def context_id_in(raw: RawMessage) -> Optional[str]:
    """The context a frame names, if it names a valid one, even when the frame is invalid."""
    try:
        data = _load(raw)
        return _context_id(data, "context_id") or _context_id(data, "contextId")
    except ProtocolError:
        return None


def parse_client_message(raw: RawMessage) -> ClientMessage:
    """The client message in a JSON frame (text or bytes) or an already decoded object."""
    data = _load(raw)
    if _flag(data, "close_socket"):
        return CloseSocket()
    if _flag(data, "close_context"):
        return CloseContext.from_dict(data)
    flush = _flag(data, "flush")
    text = data.get("text")
    if text is None and not flush:
        if any(key in data for key in _CONTROL_KEYS):
            return KeepAlive.from_dict(data)  # every flag false: nothing to do
        raise ProtocolError("message needs 'text', 'flush', 'close_context' or 'close_socket'")
    if text == "" and not flush:
        return KeepAlive.from_dict(data)
    return SendText.from_dict(data)


def parse_server_message(raw: RawMessage) -> ServerMessage:
    """The server message in a JSON frame, whichever field spelling the server used."""
    data = _load(raw)
    if data.get("error") is not None:
        return ErrorOutput.from_dict(data)
    final = _flag(data, "isFinal") or _flag(data, "is_final")
    audio = data.get("audio")
    if audio and isinstance(audio, str):
        return AudioOutput.from_dict(data)
    if final:
        return FinalOutput.from_dict(data)
    if audio is not None:
        return AudioOutput.from_dict(data)
    raise ProtocolError("message has no 'audio', 'isFinal' or 'error'")


def serialize_client_message(message: ClientMessage) -> str:
    """The JSON frame for a client message (snake_case ``context_id``, as ElevenLabs')."""
    return json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))


def serialize_server_message(message: ServerMessage) -> str:
    """The JSON frame for a server message (camelCase ``contextId``/``isFinal``)."""
    return json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))

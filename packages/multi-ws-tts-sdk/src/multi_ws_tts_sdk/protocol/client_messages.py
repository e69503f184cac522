# The SDK runs on Python 3.8, so annotations use typing.Optional/List/Tuple/Union.
# ruff: noqa: UP006, UP007, UP035, UP045
"""What a client sends: text for a context, keep-alives, closing a context or the socket."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from .fields import (
    MAX_DICTIONARY_LOCATORS,
    MAX_EMOTION_CHARS,
    MAX_SCHEDULE_ITEMS,
    Json,
    ProtocolError,
    context_id_of,
    flag,
    number,
    object_field,
    short_string,
    without_none,
)


@dataclass(frozen=True)
class VoiceSettings:
    """ElevenLabs voice settings. BreathVOICE uses ``speed``; the others are accepted."""

    speed: Optional[float] = None
    stability: Optional[float] = None
    similarity_boost: Optional[float] = None
    style: Optional[float] = None
    use_speaker_boost: Optional[bool] = None

    def to_dict(self) -> Json:
        return without_none(
            speed=self.speed, stability=self.stability, similarity_boost=self.similarity_boost,
            style=self.style, use_speaker_boost=self.use_speaker_boost,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoiceSettings:
        def setting(key: str, low: float, high: float) -> Optional[float]:
            value = data.get(key)
            return None if value is None else number(value, key, low, high)

        boost = data.get("use_speaker_boost")
        if boost is not None and not isinstance(boost, bool):
            raise ProtocolError("'use_speaker_boost' must be true or false")
        return cls(
            speed=setting("speed", 0.25, 4.0),
            stability=setting("stability", 0.0, 1.0),
            similarity_boost=setting("similarity_boost", 0.0, 1.0),
            style=setting("style", 0.0, 1.0),
            use_speaker_boost=boost,
        )


@dataclass(frozen=True)
class GenerationConfig:
    """When buffered text is spoken: after ``chunk_length_schedule[i]`` more characters."""

    chunk_length_schedule: Optional[Tuple[int, ...]] = None

    def to_dict(self) -> Json:
        schedule = self.chunk_length_schedule
        return without_none(chunk_length_schedule=None if schedule is None else list(schedule))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationConfig:
        schedule = data.get("chunk_length_schedule")
        if schedule is None:
            return cls()
        if not isinstance(schedule, list) or not 1 <= len(schedule) <= MAX_SCHEDULE_ITEMS:
            raise ProtocolError(
                f"'chunk_length_schedule' must be a list of 1 to {MAX_SCHEDULE_ITEMS} numbers"
            )
        values = [math.ceil(number(v, "chunk_length_schedule", 1, 5000)) for v in schedule]
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
        return without_none(
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
        settings = object_field(data, "voice_settings")
        config = object_field(data, "generation_config")
        return cls(
            text=text,
            context_id=context_id_of(data, "context_id", "contextId"),
            flush=flag(data, "flush"),
            voice_settings=None if settings is None else VoiceSettings.from_dict(settings),
            generation_config=None if config is None else GenerationConfig.from_dict(config),
            emotion=short_string(data.get("emotion"), "emotion", MAX_EMOTION_CHARS),
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
        return without_none(text="", context_id=self.context_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeepAlive:
        return cls(context_id=context_id_of(data, "context_id", "contextId"))


@dataclass(frozen=True)
class CloseContext:
    """Ends a context: buffered text is still spoken, then its final message comes."""

    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        return without_none(context_id=self.context_id, close_context=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloseContext:
        return cls(context_id=context_id_of(data, "context_id", "contextId"))


@dataclass(frozen=True)
class CloseSocket:
    """Ends every context, waits for their audio, then closes the connection."""

    def to_dict(self) -> Json:
        return {"close_socket": True}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloseSocket:
        return cls()

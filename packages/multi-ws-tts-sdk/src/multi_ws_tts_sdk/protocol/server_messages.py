# The SDK runs on Python 3.8, so annotations use typing.Optional/List/Tuple/Union.
# ruff: noqa: UP006, UP007, UP035, UP045
"""What the server sends: audio (with optional alignment), a context's end, errors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

from .fields import Json, ProtocolError, context_id_of, flag, number, object_field, without_none


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
            char_start_times_ms=tuple(round(number(v, "alignment", 0, 1e9)) for v in starts),
            char_durations_ms=tuple(round(number(v, "alignment", 0, 1e9)) for v in durations),
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
        data.update(without_none(contextId=self.context_id))
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
        alignment = object_field(data, "alignment")
        normalized = (object_field(data, "normalizedAlignment")
                      or object_field(data, "normalized_alignment"))
        return cls(
            audio=audio,
            context_id=context_id_of(data, "contextId", "context_id"),
            alignment=None if alignment is None else Alignment.from_dict(alignment),
            normalized_alignment=None if normalized is None else Alignment.from_dict(normalized),
            is_final=flag(data, "isFinal") or flag(data, "is_final"),
        )


@dataclass(frozen=True)
class FinalOutput:
    """The last message of a context: all its audio has been sent."""

    context_id: Optional[str] = None

    def to_dict(self) -> Json:
        return without_none(isFinal=True, contextId=self.context_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinalOutput:
        return cls(context_id=context_id_of(data, "contextId", "context_id"))


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
            context_id=context_id_of(data, "contextId", "context_id"),
        )

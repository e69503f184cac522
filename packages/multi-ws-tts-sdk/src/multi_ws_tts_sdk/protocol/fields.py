# The SDK runs on Python 3.8, so annotations use typing.Optional/Dict/Union.
# ruff: noqa: UP006, UP007, UP035, UP045
"""Reading and checking the fields of a wire message; every failure is a ProtocolError."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Mapping, Optional, Union

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


def load_object(raw: RawMessage) -> Mapping[str, Any]:
    """The JSON object in a frame (text or bytes), or the already decoded object."""
    if isinstance(raw, Mapping):
        return raw
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    return data


def flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ProtocolError(f"'{key}' must be true or false")


def number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"'{name}' must be a number")
    if not low <= value <= high:
        raise ProtocolError(f"'{name}' must be between {low:g} and {high:g}")
    return float(value)


def short_string(value: Any, name: str, max_chars: int) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise ProtocolError(f"'{name}' must be a non-empty string of at most {max_chars} chars")
    return value


def context_id_of(data: Mapping[str, Any], *keys: str) -> Optional[str]:
    """The context id under the first of ``keys`` the message has (spellings differ)."""
    for key in keys:
        if data.get(key) is not None:
            return short_string(data[key], "context_id", MAX_CONTEXT_ID_CHARS)
    return None


def object_field(data: Mapping[str, Any], key: str) -> Optional[Mapping[str, Any]]:
    value = data.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise ProtocolError(f"'{key}' must be an object")


def without_none(**fields: Any) -> Json:
    return {key: value for key, value in fields.items() if value is not None}

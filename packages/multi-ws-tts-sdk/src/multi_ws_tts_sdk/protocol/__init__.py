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

The client's messages live in :mod:`.client_messages`, the server's in :mod:`.server_messages`,
the checks of single fields in :mod:`.fields`; this module parses and serialises whole frames.
"""

from __future__ import annotations

import json
from typing import Optional, Union

from .client_messages import (
    CloseContext,
    CloseSocket,
    GenerationConfig,
    KeepAlive,
    SendText,
    VoiceSettings,
)
from .fields import (
    DEFAULT_CONTEXT_ID,
    ProtocolError,
    RawMessage,
    context_id_of,
    flag,
    load_object,
)
from .server_messages import Alignment, AudioOutput, ErrorOutput, FinalOutput

__all__ = [
    "DEFAULT_CONTEXT_ID", "Alignment", "AudioOutput", "ClientMessage", "CloseContext",
    "CloseSocket", "ErrorOutput", "FinalOutput", "GenerationConfig", "KeepAlive",
    "ProtocolError", "SendText", "ServerMessage", "VoiceSettings", "context_id_in",
    "parse_client_message",
    "parse_server_message", "serialize_client_message", "serialize_server_message",
]

ClientMessage = Union[SendText, KeepAlive, CloseContext, CloseSocket]
ServerMessage = Union[AudioOutput, FinalOutput, ErrorOutput]

_CONTROL_KEYS = ("flush", "close_context", "close_socket")


def context_id_in(raw: RawMessage) -> Optional[str]:
    """The context a frame names, if it names a valid one, even when the frame is invalid."""
    try:
        data = load_object(raw)
        return context_id_of(data, "context_id") or context_id_of(data, "contextId")
    except ProtocolError:
        return None


def parse_client_message(raw: RawMessage) -> ClientMessage:
    """The client message in a JSON frame (text or bytes) or an already decoded object."""
    data = load_object(raw)
    if flag(data, "close_socket"):
        return CloseSocket()
    if flag(data, "close_context"):
        return CloseContext.from_dict(data)
    flush = flag(data, "flush")
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
    data = load_object(raw)
    if data.get("error") is not None:
        return ErrorOutput.from_dict(data)
    final = flag(data, "isFinal") or flag(data, "is_final")
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

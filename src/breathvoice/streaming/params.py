"""The query string and headers of a streaming socket, on either of its two paths.

``/v1/text-to-speech/{voice_id}/multi-stream-input`` (ElevenLabs) and
``/enterprise/v1/tts/{voice_id}/websocket/multi`` (the seed SDK) take the same
parameters; each accepts the other's spellings too:

============================  ==================================================
API key                       header ``xi-api-key`` or ``api-key``, header
                              ``Authorization: Bearer …``, or query
                              ``authorization`` / ``xi_api_key``
``model_id``                  any ``eleven_*`` id or short name (``flash_v2_5``); it is
                              reported, never selects another engine
``output_format`` / ``format``  an ElevenLabs format name, default ``mp3_44100_128``
``language_code``             ISO 639 code, optionally with a region (``zh-CN`` → ``zh``)
``inactivity_timeout``        seconds, default 20; more than 180 is taken as 180
``sync_alignment``            send character alignment with each audio chunk
``auto_mode``                 release text at sentence ends instead of by schedule
``emotion``                   (extension) default emotion of the socket's contexts
============================  ==================================================

``priority`` and any other parameter are ignored. Bad values raise
:class:`~breathvoice.errors.InvalidRequest` with a message for the user.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from breathvoice.audio.formats import OutputFormat, parse_elevenlabs_format
from breathvoice.errors import InvalidRequest
from breathvoice.streaming.session import SessionConfig

DEFAULT_MODEL_ID = "eleven_flash_v2_5"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_INACTIVITY_TIMEOUT = 20.0
MAX_INACTIVITY_TIMEOUT = 180.0

_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_LANGUAGE_CODE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_EMOTION = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class StreamParams:
    api_key: str | None
    """The key the client presented, if any (checking it is the caller's job)."""
    model_id: str
    output_format: OutputFormat
    language: str | None
    """Primary language subtag, lower case (``zh``), or None to detect from the text."""
    inactivity_timeout: float
    sync_alignment: bool
    auto_mode: bool
    emotion: str | None
    """Default emotion for contexts that do not choose one."""

    def session_config(
        self, emotions: Sequence[str], max_contexts: int, default_emotion: str = "greeting"
    ) -> SessionConfig:
        """The session settings for a voice group with these emotions.

        Raises InvalidRequest if the ``emotion`` parameter names none of them.
        """
        if self.emotion is not None:
            by_name = {name.lower(): name for name in emotions}
            if self.emotion.lower() not in by_name:
                raise InvalidRequest(
                    f"Unknown emotion '{self.emotion}'; this voice has: {', '.join(emotions)}"
                )
            default_emotion = by_name[self.emotion.lower()]
        return SessionConfig(
            emotions=tuple(emotions),
            default_emotion=default_emotion,
            max_contexts=max_contexts,
            inactivity_timeout=self.inactivity_timeout,
            auto_mode=self.auto_mode,
            sync_alignment=self.sync_alignment,
            language=self.language,
        )


def parse_stream_params(
    query: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    default_inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
) -> StreamParams:
    """Read a socket's parameters; raises InvalidRequest (or UnsupportedFormat)."""
    output_format = _first(query, "output_format", "format") or DEFAULT_OUTPUT_FORMAT
    timeout = _first(query, "inactivity_timeout")
    return StreamParams(
        api_key=api_key_of(query, headers),
        model_id=_model_id(_first(query, "model_id")),
        output_format=parse_elevenlabs_format(output_format),
        language=_language(_first(query, "language_code", "language")),
        inactivity_timeout=(
            min(default_inactivity_timeout, MAX_INACTIVITY_TIMEOUT)
            if timeout is None else _inactivity_timeout(timeout)
        ),
        sync_alignment=_boolean(query, "sync_alignment"),
        auto_mode=_boolean(query, "auto_mode"),
        emotion=_emotion(_first(query, "emotion")),
    )


def api_key_of(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The API key from the headers (preferred) or the query string, if there is one."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for value in (
        lowered.get("xi-api-key"),
        lowered.get("api-key"),
        _bearer(lowered.get("authorization")),
        _bearer(_first(query, "authorization")),
        _first(query, "xi_api_key", "xi-api-key", "api_key"),
    ):
        if value and value.strip():
            return value.strip()
    return None


def _first(query: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = query.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token if scheme.lower() == "bearer" else value


def _model_id(value: str | None) -> str:
    if value is None:
        return DEFAULT_MODEL_ID
    if not _MODEL_ID.fullmatch(value):
        raise InvalidRequest("model_id must be a model name such as eleven_flash_v2_5")
    return value


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    match = _LANGUAGE_CODE.fullmatch(value)
    if match is None:
        raise InvalidRequest("language_code must be an ISO 639 code such as 'zh' or 'en'")
    return match.group(1).lower()


def _inactivity_timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidRequest("inactivity_timeout must be a positive number of seconds")
    return min(seconds, MAX_INACTIVITY_TIMEOUT)


def _boolean(query: Mapping[str, str], name: str) -> bool:
    value = _first(query, name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidRequest(f"{name} must be true or false")


def _emotion(value: str | None) -> str | None:
    if value is not None and not _EMOTION.fullmatch(value):
        raise InvalidRequest("emotion must be the name of one of the voice group's emotions")
    return value

"""OpenAI's speech API: ``POST /v1/audio/speech``, ``GET /v1/models``, ``GET /v1/audio/voices``.

Clients written for OpenAI work with ``base_url=<server>/v1``. ``voice`` names a voice group
(``"Demo"``) or one of its emotions (``"Demo:B1_B2"``), as a string or as ``{"id": ...}``;
``model`` may be any name, since one engine serves them all; ``instructions`` is accepted
and not used. The audio streams out while it is being made: the first bytes leave as soon
as the first clause is spoken. ``stream_format: "sse"`` sends it as server-sent events
(``speech.audio.delta`` with base64 audio, then ``speech.audio.done``).

Errors take OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``
(see :mod:`breathvoice.api.errors`); an unknown voice is a 404 with ``param: "voice"``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireApiKey
from breathvoice.api.deps import MeterDep, ServicesDep
from breathvoice.api.elevenlabs_compat import elevenlabs_models
from breathvoice.api.models import VOICE_METHOD_HEADER
from breathvoice.audio.formats import OPENAI_FORMATS, parse_openai_format
from breathvoice.engines.base import SynthesisOptions
from breathvoice.pronunciation.store import locators_of
from breathvoice.speech import (
    checked_text,
    choose_voice,
    encoded_speech,
    split_voice_name,
    started,
    voice_groups,
    voice_names,
)

router = APIRouter(tags=["OpenAI compatible"], dependencies=[RequireApiKey])

MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI model names listed by ``GET /v1/models``; any other name is accepted too."""


class OpenAIVoiceId(BaseModel):
    id: str = Field(min_length=1, max_length=200)


class OpenAISpeechRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "model": "tts-1", "input": "你好，欢迎来到我们的世界！", "voice": "Demo",
        "response_format": "mp3",
    }})

    model: str = Field("tts-1", max_length=200, description="any name; one engine serves all")
    input: str = Field(description="the text to speak")
    voice: str | OpenAIVoiceId = Field(
        description="a voice group ('Demo') or one of its emotions ('Demo:B1_B2')"
    )
    response_format: str = Field(
        "mp3", description="mp3, opus, aac, flac, wav or pcm (raw 24 kHz 16-bit mono)"
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="speaking rate; 1.0 is natural")
    instructions: str | None = Field(None, max_length=4096, description="accepted, not used")
    stream_format: Literal["audio", "sse"] = Field(
        "audio", description="'audio': the bytes themselves; 'sse': server-sent events"
    )
    pronunciation_dictionary_locators: list[dict[str, Any]] | None = Field(
        None, description="extension: up to 3 {pronunciation_dictionary_id, version_id?}, "
        "applied before the voice group's own dictionaries (the first wins)")

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, OpenAIVoiceId) else self.voice


_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "the audio, streamed as it is made",
    "content": {fmt.media_type: {} for fmt in OPENAI_FORMATS.values()},
}}


@router.post("/v1/audio/speech", response_class=StreamingResponse, responses=_AUDIO_RESPONSES)
async def create_speech(body: OpenAISpeechRequest, services: ServicesDep,
                        meter: MeterDep) -> StreamingResponse:
    """Speak ``input`` with a voice group (OpenAI's ``audio.speech.create``)."""
    fmt = parse_openai_format(body.response_format)
    text = checked_text(body.input, services.settings.max_text_chars)
    locators = locators_of(body.pronunciation_dictionary_locators)
    choice = await choose_voice(services.library, body.voice_name)
    lexicon = await run_in_threadpool(services.pronunciation.lexicon,
                                      split_voice_name(body.voice_name)[0], locators)
    options = SynthesisOptions(speed=body.speed, early_first_chunk=True, lexicon=lexicon)
    meter.charge(text)
    audio = await started(encoded_speech(
        services.scheduler, text, choice.voice_state, fmt, options, owner=object()
    ))
    headers = {"X-Voice-Emotion": choice.emotion, VOICE_METHOD_HEADER: choice.voice_method}
    if body.stream_format == "sse":
        return StreamingResponse(_events(audio), media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})
    return StreamingResponse(audio, media_type=fmt.media_type, headers=headers)


async def _events(audio: AsyncIterator[bytes]) -> AsyncIterator[str]:
    async for piece in audio:
        delta = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode("ascii")}
        yield f"data: {json.dumps(delta)}\n\n"
    yield f"data: {json.dumps({'type': 'speech.audio.done'})}\n\n"


@router.get("/v1/models")
def list_models(request: Request, services: ServicesDep) -> Any:
    """The model names clients may send (ElevenLabs' shape for ElevenLabs clients)."""
    if _from_elevenlabs_client(request):
        return elevenlabs_models(services.engine.name)
    names = [services.engine.name, *MODEL_ALIASES]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "breathvoice"}
        for name in names
    ]}


def _from_elevenlabs_client(request: Request) -> bool:
    """ElevenLabs also has ``GET /v1/models``; its clients send their key as ``xi-api-key``."""
    headers = request.headers
    return "xi-api-key" in headers or headers.get("x-fern-sdk-name", "").startswith("elevenlabs")


@router.get("/v1/audio/voices")
async def list_voices(services: ServicesDep) -> dict[str, Any]:
    """Every voice group, as OpenAI voice objects, and every name ``voice`` may take."""
    groups = await run_in_threadpool(voice_groups, services.library)
    return {
        "object": "list",
        "data": [{
            "id": group.voice_group_id,
            "object": "audio.voice",
            "name": group.voice_group_id,
            "type": "audio_sample",
            "created_at": int(group.created_at.timestamp()),
            "emotions": group.available_emotions,
            "default_emotion": group.default_emotion,
        } for group in groups],
        "voices": [name for group in groups for name in voice_names(group)],
    }

"""ElevenLabs' text-to-speech API over HTTP, on voice groups.

Clients written for ElevenLabs work with ``base_url=<server>``:

- ``POST /v1/text-to-speech/{voice_id}`` and ``.../stream``: the audio, streamed as it is
  made (``/stream`` cuts the first chunk short so its first bytes leave sooner);
- ``.../with-timestamps``: ``{"audio_base64", "alignment", "normalized_alignment"}``, the
  alignment timing every character of ``text`` in seconds from the start of the audio;
- ``.../stream/with-timestamps``: the same as newline-delimited JSON objects, each with a
  piece of audio and the characters it brings (times still from the start of the audio);
- ``GET /v1/voices`` and ``GET /v1/voices/{voice_id}``: voice groups as ElevenLabs voices.

``voice_id`` names a voice group, or one of its emotions as ``group:emotion``. ``model_id``
may be any name, ``output_format`` any ElevenLabs format we encode (default
``mp3_44100_128``). ``voice_settings.speed`` sets the rate; ``seed``, ``previous_text``,
``next_text`` and the other voice settings are accepted and not used. The key comes in
``xi-api-key``. Errors take ElevenLabs' shape, ``{"detail": {"status", "message"}}``.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireApiKey
from breathvoice.api.deps import MeterDep, Services, ServicesDep
from breathvoice.api.metering import SpeechMeter
from breathvoice.api.models import VOICE_METHOD_HEADER
from breathvoice.audio.formats import ELEVENLABS_FORMATS, OutputFormat, parse_elevenlabs_format
from breathvoice.engines.base import SynthesisOptions, VoiceState
from breathvoice.errors import VoiceGroupNotFound
from breathvoice.pronunciation.store import locators_of
from breathvoice.speech import (
    CharTimes,
    checked_text,
    choose_voice,
    encoded_speech,
    language_hint,
    split_voice_name,
    started,
    timed_speech,
    voice_groups,
)
from breathvoice.voices.manifest import Manifest

router = APIRouter(tags=["ElevenLabs compatible"], dependencies=[RequireApiKey])

MODEL_IDS = ("eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5")
"""ElevenLabs model names listed by ``GET /v1/models``; any other name is accepted too."""
LANGUAGES = {"zh": "Chinese", "en": "English", "ja": "Japanese"}


class ElevenLabsVoiceSettings(BaseModel):
    stability: float | None = None
    similarity_boost: float | None = None
    style: float | None = None
    use_speaker_boost: bool | None = None
    speed: float | None = Field(None, ge=0.25, le=4.0, description="speaking rate")


class ElevenLabsSpeechRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "text": "你好，欢迎来到我们的世界！", "model_id": "eleven_multilingual_v2",
    }})

    text: str = Field(description="the text to speak")
    model_id: str | None = Field(None, max_length=200, description="any name")
    language_code: str | None = Field(None, max_length=35, description="'zh', 'en', 'ja', ...")
    voice_settings: ElevenLabsVoiceSettings | None = None
    seed: int | None = Field(None, description="accepted, not used")
    previous_text: str | None = Field(None, description="accepted, not used")
    next_text: str | None = Field(None, description="accepted, not used")
    previous_request_ids: list[str] | None = Field(None, description="accepted, not used")
    next_request_ids: list[str] | None = Field(None, description="accepted, not used")
    pronunciation_dictionary_locators: list[dict[str, Any]] | None = Field(
        None, description="up to 3 {pronunciation_dictionary_id, version_id?}, applied in "
        "order (the first wins), before the voice group's own dictionaries")


OutputFormatQuery = Annotated[str | None, Query(
    description="codec_rate[_kbps], e.g. mp3_44100_128 (default), pcm_24000, ulaw_8000",
)]
_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "the audio, streamed as it is made",
    "content": {media: {} for media in sorted({f.media_type for f in ELEVENLABS_FORMATS.values()})},
}}


@dataclass(frozen=True)
class _Speech:
    """What one request asked for, checked, with its voice looked up."""

    services: Services
    fmt: OutputFormat
    text: str
    voice: VoiceState
    voice_method: str
    options: SynthesisOptions

    @classmethod
    async def prepare(cls, services: Services, meter: SpeechMeter, voice_id: str,
                      body: ElevenLabsSpeechRequest, output_format: str | None,
                      early_first_chunk: bool) -> _Speech:
        """Check the request, look its voice up, then charge the text it speaks."""
        fmt = parse_elevenlabs_format(output_format)
        text = checked_text(body.text, services.settings.max_text_chars)
        language = language_hint(body.language_code)
        speed = body.voice_settings.speed if body.voice_settings else None
        locators = locators_of(body.pronunciation_dictionary_locators)
        choice = await choose_voice(services.library, voice_id)
        lexicon = await run_in_threadpool(services.pronunciation.lexicon,
                                          split_voice_name(voice_id)[0], locators)
        options = SynthesisOptions(speed=speed or 1.0, language=language,
                                   early_first_chunk=early_first_chunk, lexicon=lexicon)
        meter.charge(text)
        return cls(services, fmt, text, choice.voice_state, choice.voice_method, options)

    def audio(self) -> AsyncGenerator[bytes, None]:
        return encoded_speech(self.services.scheduler, self.text, self.voice, self.fmt,
                              self.options, owner=object())

    def timed(self) -> AsyncGenerator[tuple[bytes, CharTimes], None]:
        return timed_speech(self.services.scheduler, self.text, self.voice, self.fmt,
                            self.options, owner=object())

    def headers(self) -> dict[str, str]:
        return {"request-id": uuid.uuid4().hex, VOICE_METHOD_HEADER: self.voice_method}


@router.post("/v1/text-to-speech/{voice_id}", response_class=StreamingResponse,
             responses=_AUDIO_RESPONSES)
async def convert(voice_id: str, body: ElevenLabsSpeechRequest, services: ServicesDep,
                  meter: MeterDep, output_format: OutputFormatQuery = None
                  ) -> StreamingResponse:
    """Speak ``text`` (ElevenLabs' ``text_to_speech.convert``)."""
    return await _audio_response(services, meter, voice_id, body, output_format, False)


@router.post("/v1/text-to-speech/{voice_id}/stream", response_class=StreamingResponse,
             responses=_AUDIO_RESPONSES)
async def stream(voice_id: str, body: ElevenLabsSpeechRequest, services: ServicesDep,
                 meter: MeterDep, output_format: OutputFormatQuery = None
                 ) -> StreamingResponse:
    """Speak ``text``, first bytes as early as possible (``text_to_speech.stream``)."""
    return await _audio_response(services, meter, voice_id, body, output_format, True)


async def _audio_response(services: Services, meter: SpeechMeter, voice_id: str,
                          body: ElevenLabsSpeechRequest, output_format: str | None,
                          early_first_chunk: bool) -> StreamingResponse:
    speech = await _Speech.prepare(services, meter, voice_id, body, output_format,
                                   early_first_chunk)
    audio = await started(speech.audio())
    return StreamingResponse(audio, media_type=speech.fmt.media_type, headers=speech.headers())


@router.post("/v1/text-to-speech/{voice_id}/with-timestamps")
async def convert_with_timestamps(
    voice_id: str, body: ElevenLabsSpeechRequest, services: ServicesDep, meter: MeterDep,
    response: Response, output_format: OutputFormatQuery = None,
) -> dict[str, Any]:
    """The whole audio as base64, with when each character of ``text`` is spoken."""
    speech = await _Speech.prepare(services, meter, voice_id, body, output_format, False)
    pieces: list[bytes] = []
    times = CharTimes.empty()
    async with aclosing(speech.timed()) as timed:
        async for audio, characters in timed:
            pieces.append(audio)
            times = times + characters
    response.headers[VOICE_METHOD_HEADER] = speech.voice_method
    return _timed_piece(b"".join(pieces), times)


@router.post("/v1/text-to-speech/{voice_id}/stream/with-timestamps",
             response_class=StreamingResponse)
async def stream_with_timestamps(
    voice_id: str, body: ElevenLabsSpeechRequest, services: ServicesDep, meter: MeterDep,
    output_format: OutputFormatQuery = None,
) -> StreamingResponse:
    """One JSON object per line: a piece of audio (base64) and the characters it brings."""
    speech = await _Speech.prepare(services, meter, voice_id, body, output_format, True)
    pieces = await started(speech.timed())

    async def lines() -> AsyncIterator[str]:
        async for audio, characters in pieces:
            yield json.dumps(_timed_piece(audio, characters)) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers=speech.headers())


def _timed_piece(audio: bytes, times: CharTimes) -> dict[str, Any]:
    alignment = None
    if times.characters:
        alignment = {
            "characters": list(times.characters),
            "character_start_times_seconds": list(times.start_seconds),
            "character_end_times_seconds": list(times.end_seconds),
        }
    return {"audio_base64": base64.b64encode(audio).decode("ascii"),
            "alignment": alignment, "normalized_alignment": alignment}


@router.get("/v1/voices")
async def list_voices(services: ServicesDep) -> dict[str, Any]:
    """Every voice group as an ElevenLabs voice."""
    groups = await run_in_threadpool(voice_groups, services.library)
    return {"voices": [_voice(group) for group in groups]}


@router.get("/v1/voices/{voice_id}")
async def get_voice(voice_id: str, services: ServicesDep) -> dict[str, Any]:
    """One voice group (``group`` or ``group:emotion``) as an ElevenLabs voice."""
    group, _ = split_voice_name(voice_id)
    if not group:
        raise VoiceGroupNotFound(voice_id)
    return _voice(await run_in_threadpool(services.library.manifest, group))


def _voice(group: Manifest) -> dict[str, Any]:
    emotions = group.available_emotions
    return {
        "voice_id": group.voice_group_id,
        "name": group.voice_group_id,
        "category": "cloned",
        "description": f"Voice group with emotions {', '.join(emotions)}; "
                       f"use '{group.voice_group_id}:<emotion>' as voice_id to pick one",
        "labels": {"emotions": ",".join(emotions), "default_emotion": group.default_emotion},
        "samples": [{
            "sample_id": emotion,
            "file_name": group.references[emotion].file,
            "mime_type": mimetypes.guess_type(group.references[emotion].file)[0] or "audio/wav",
        } for emotion in emotions],
        "settings": {"stability": 0.5, "similarity_boost": 0.75, "style": 0.0,
                     "use_speaker_boost": True, "speed": 1.0},
        "available_for_tiers": [],
        "high_quality_base_model_ids": list(MODEL_IDS),
        "created_at_unix": int(group.created_at.timestamp()),
        "is_owner": True,
    }


def elevenlabs_models(engine_name: str) -> list[dict[str, Any]]:
    """``GET /v1/models`` in ElevenLabs' shape (served by the OpenAI module's route)."""
    return [{
        "model_id": model_id,
        "name": model_id,
        "description": f"served by the {engine_name} engine",
        "can_do_text_to_speech": True,
        "can_do_voice_conversion": False,
        "can_be_finetuned": False,
        "languages": [{"language_id": code, "name": name} for code, name in LANGUAGES.items()],
    } for model_id in (*MODEL_IDS, engine_name)]

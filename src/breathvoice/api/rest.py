"""The BreathVOICE REST routes of the seed guide (``/breathvoice/...``) and ``GET /``."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from breathvoice import __version__
from breathvoice.api.auth import RequireAdmin, RequireApiKey
from breathvoice.api.deps import MeterDep, ServicesDep
from breathvoice.api.errors import SINGLE_TTS_RESULT
from breathvoice.api.models import (
    VOICE_METHOD_HEADER,
    BatchRequest,
    BatchResponse,
    Health,
    LoudnessOption,
    SingleTTSResponse,
    TTSRequest,
    TTSResult,
    UploadResponse,
    VoiceGroupList,
)
from breathvoice.api.outputs_routes import output_folder
from breathvoice.api.uploads import read_upload
from breathvoice.errors import BreathVoiceError, InvalidRequest
from breathvoice.lines import Line, RenderedLine
from breathvoice.pronunciation.store import locators_of
from breathvoice.qa.loudness import loudness_target
from breathvoice.voices.importer import import_voice_group_zip

public_router = APIRouter()
router = APIRouter(dependencies=[RequireApiKey])
"""Routes that need an API key when the server has keys configured."""


def _audio_url(request: Request, services: ServicesDep, output_path: str) -> str:
    base = services.settings.public_base_url or str(request.base_url)
    return f"{base.rstrip('/')}/breathvoice/outputs/{output_path}"


def _result(request: Request, services: ServicesDep, done: RenderedLine,
            inline: bool) -> TTSResult:
    return TTSResult(
        filename=done.filename,
        text=done.text,
        reference_audio=done.reference_audio,
        output_path=done.output_path,
        processing_time=done.processing_time,
        emotion=done.emotion,
        audio_url=_audio_url(request, services, done.output_path),
        duration=round(done.duration, 3),
        sample_rate=done.sample_rate,
        audio_data=base64.b64encode(done.data).decode("ascii") if inline else None,
        voice_method=done.voice_method,
    )


@public_router.get("/", tags=["service"], summary="Service status")
def root(services: ServicesDep) -> dict[str, Any]:
    return {
        "name": "BreathVOICE",
        "service": "breathvoice",
        "status": "running",
        "version": __version__,
        "engine": services.engine.name,
        "voice_groups": len(services.library.list_ids()),
        "docs": "/docs",
    }


@public_router.get("/breathvoice/health", tags=["service"], response_model=Health)
def health(services: ServicesDep) -> Health:
    return Health(status="healthy", service="breathvoice", version=__version__,
                  available_voice_groups=len(services.library.list_ids()),
                  engine=services.engine.name)


@router.get("/breathvoice/voice-groups", tags=["voice groups"], response_model=VoiceGroupList)
def list_voice_groups(services: ServicesDep) -> VoiceGroupList:
    ids = services.library.list_ids()
    return VoiceGroupList(voice_groups=ids, count=len(ids))


@router.get("/breathvoice/voice-groups/{voice_group_id}", tags=["voice groups"])
def voice_group_details(voice_group_id: str, services: ServicesDep) -> dict[str, Any]:
    """Reference files per emotion, status ``ready`` or ``incomplete``, conditioning, and
    ``enrolment``: ``{status, progress, method, similarity}`` of the voice matching."""
    details: dict[str, Any] = services.library.details(voice_group_id)
    return details


@router.post("/breathvoice/single-tts", tags=["synthesis"], response_model=SingleTTSResponse,
             response_model_exclude_none=True)
async def single_tts(body: TTSRequest, request: Request, response: Response,
                     services: ServicesDep, meter: MeterDep) -> SingleTTSResponse:
    """Make one audio file. The file name picks the reference emotion (see the guide)."""
    setattr(request.state, SINGLE_TTS_RESULT, {"filename": body.filename, "text": body.text})
    loudness = loudness_target(body.loudness if not isinstance(body.loudness, LoudnessOption)
                               else body.loudness.model_dump())
    line = Line(text=body.text, filename=body.filename, voice_group_id=body.voice_group_id,
                emotion=body.emotion, speed=body.speed, language=body.language,
                loudness=loudness,
                dictionaries=locators_of(body.pronunciation_dictionary_locators))
    meter.charge(services.lines.check(line))
    done = await services.lines.render(line, owner=object(),
                                       key_id=output_folder(meter.principal))
    result = _result(request, services, done, body.return_audio)
    response.headers[VOICE_METHOD_HEADER] = done.voice_method
    return SingleTTSResponse(message="Single TTS completed successfully", result=result)


@router.post("/breathvoice/batch-tts", tags=["synthesis"], response_model=BatchResponse)
async def batch_tts(body: BatchRequest, request: Request, services: ServicesDep,
                    meter: MeterDep) -> BatchResponse:
    """Make many files. A bad item is reported in ``results``; the others are still made."""
    limit = services.settings.max_batch_items
    if not body.requests:
        raise InvalidRequest("requests must contain at least one item")
    if len(body.requests) > limit:
        raise InvalidRequest(f"a batch holds at most {limit} items; got {len(body.requests)}")
    owner = object()
    key_id = output_folder(meter.principal)
    gate = asyncio.Semaphore(services.settings.batch_concurrency)
    lines = [Line(text=item.text or "", filename=item.filename or "",
                  voice_group_id=item.voice_group_id or "", emotion=item.emotion,
                  speed=item.speed if item.speed is not None else 1.0,
                  language=item.language) for item in body.requests]
    spoken = {index: text for index, line in enumerate(lines)
              if (text := _checked(services, line)) is not None}
    meter.charge("".join(spoken.values()))  # the whole batch fits the quota, or 402

    async def one(index: int, line: Line) -> dict[str, Any]:
        try:
            if not line.voice_group_id:
                raise InvalidRequest("voice_group_id must not be empty")
            line = dataclasses.replace(line, dictionaries=locators_of(
                body.requests[index].pronunciation_dictionary_locators))
            async with gate:
                done = await services.lines.render(line, owner=owner, key_id=key_id)
        except BreathVoiceError as exc:
            meter.refund(spoken.get(index, ""))
            return {"filename": line.filename, "success": False, "error": exc.message,
                    "code": exc.code}
        result = _result(request, services, done, body.return_audio)
        return {"success": True, **result.model_dump(exclude_none=True)}

    results = await asyncio.gather(*(one(i, line) for i, line in enumerate(lines)))
    ok = sum(1 for r in results if r["success"])
    return BatchResponse(successful_count=ok, failed_count=len(results) - ok,
                         total_count=len(results), results=list(results))


def _checked(services: ServicesDep, line: Line) -> str | None:
    """The text a batch item will speak, or None if it will fail before speaking."""
    try:
        return services.lines.check(line) if line.voice_group_id else None
    except BreathVoiceError:
        return None


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise InvalidRequest("overwrite must be 'true' or 'false'")


@router.post("/breathvoice/upload-voice-group", tags=["voice groups"],
             response_model=UploadResponse, dependencies=[RequireAdmin])
async def upload_voice_group(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="zip of <Group>_<emotion>.wav clips")],
    voice_group_id: Annotated[str, Form()],
    overwrite: Annotated[str, Form(description="'true' replaces an existing group")] = "false",
) -> UploadResponse:
    """Add (or with ``overwrite=true`` replace) a voice group from a zip of reference clips."""
    replace = _parse_bool(overwrite)
    data = await read_upload(file, services.settings.max_upload_bytes)
    result = await run_in_threadpool(
        import_voice_group_zip, data, voice_group_id, replace,
        library=services.library, engine=services.engine, settings=services.settings,
    )
    details = services.library.details(result.voice_group_id)
    return UploadResponse(
        message="Voice group uploaded successfully",
        voice_group_id=result.voice_group_id,
        extracted_files=result.extracted_files,
        target_directory=result.target_directory,
        status=details["status"],
        warnings=list(result.warnings),
        enrolment=details["enrolment"],
    )

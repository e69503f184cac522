"""Voice-group routes beyond the seed guide: hear a reference clip, delete a group.

- ``GET /breathvoice/voice-groups/{id}/references/{emotion}`` answers the clip uploaded
  for that emotion (the emotion's name is matched ignoring case);
- ``POST /breathvoice/voice-groups/{id}/select-emotion`` says which emotion (and clip)
  each file name picks under the group's rules, as batch-tts and script jobs choose them;
- ``DELETE /breathvoice/voice-groups/{id}`` removes the group (``admin`` scope).
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireAdmin, RequireApiKey
from breathvoice.api.deps import ServicesDep
from breathvoice.errors import NotFound, VoiceGroupNotFound
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.selection import find_emotion, resolve_reference, select_emotion

router = APIRouter(prefix="/breathvoice/voice-groups", tags=["voice groups"],
                   dependencies=[RequireApiKey])

MAX_FILENAMES = 1000
MAX_FILENAME_CHARS = 1000


class FilenamesBody(BaseModel):
    filenames: list[str] = Field(max_length=MAX_FILENAMES,
                                 description="output file names, as a script names them")


_AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
                ".mp3": "audio/mpeg"}


def read_reference(library: VoiceLibrary, voice_group_id: str,
                   emotion: str) -> tuple[str, bytes]:
    """The file name and bytes of a group's reference clip for ``emotion``."""
    manifest = library.manifest(voice_group_id)
    available = manifest.available_emotions
    found = find_emotion(emotion, available)
    if found is None:
        raise NotFound(f"voice group '{voice_group_id}' has no reference clip for emotion "
                       f"'{emotion[:64]}'; available: {', '.join(available)}")
    name = manifest.references[found].file
    try:
        return name, (library.group_dir(voice_group_id) / name).read_bytes()
    except FileNotFoundError as exc:  # replaced or deleted meanwhile
        raise VoiceGroupNotFound(voice_group_id) from exc


@router.get("/{voice_group_id}/references/{emotion}", response_class=Response,
            summary="Download a reference clip",
            responses={200: {"content": {"audio/wav": {}}, "description": "the clip"}})
async def reference_clip(voice_group_id: str, emotion: str, services: ServicesDep) -> Response:
    """The clip uploaded for one emotion of the group, as it was uploaded."""
    name, data = await run_in_threadpool(read_reference, services.library, voice_group_id,
                                         emotion)
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    media_type = _AUDIO_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    return Response(data, media_type=media_type or "application/octet-stream",
                    headers={"Cache-Control": "no-cache"})


def select_emotions(library: VoiceLibrary, voice_group_id: str,
                    filenames: list[str]) -> dict[str, Any]:
    """The emotion each file name picks (the group's keyword rules, first match wins) and
    the clip that speaks it (the default emotion's, or any, when the group lacks it)."""
    manifest = library.manifest(voice_group_id)
    rules, default = manifest.keyword_rules(), manifest.default_emotion
    available = manifest.available_emotions
    results = []
    for name in filenames:
        emotion = select_emotion(name[:MAX_FILENAME_CHARS], rules, default)
        used = resolve_reference(emotion, available, default) if available else None
        results.append({"filename": name, "emotion": emotion, "reference_emotion": used,
                        "reference_audio": manifest.references[used].file if used else None})
    return {"voice_group_id": voice_group_id, "default_emotion": default,
            "emotions": list(manifest.emotions), "available_emotions": available,
            "results": results}


@router.post("/{voice_group_id}/select-emotion",
             summary="Which emotion each file name picks under the group's rules")
async def select_emotion_route(voice_group_id: str, body: FilenamesBody,
                               services: ServicesDep) -> dict[str, Any]:
    """For each file name: the ``emotion`` its name picks (as batch-tts and script jobs
    choose it) and the ``reference_audio`` clip that speaks it."""
    return await run_in_threadpool(select_emotions, services.library, voice_group_id,
                                   body.filenames)


@router.delete("/{voice_group_id}", dependencies=[RequireAdmin], summary="Delete a voice group")
async def delete_voice_group(voice_group_id: str, services: ServicesDep) -> dict[str, Any]:
    """Remove the group and its clips; its running voice matching is cancelled."""
    await run_in_threadpool(services.library.delete, voice_group_id)
    return {"success": True, "message": f"Voice group '{voice_group_id}' deleted",
            "voice_group_id": voice_group_id}

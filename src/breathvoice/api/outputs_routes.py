"""Downloads of generated files (their ``audio_url``), each only for the key that made it.

While no key is configured, files live at ``<group>/<file>`` and anyone who may call the
server may fetch them, exactly as the seed guide shows. A key's files live under
``_keys/<key id>/...``: that key and admin keys may fetch them; any other key is told
404, as if they did not exist. Files in the shared folder (made before keys were set up)
are for admin keys only.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from breathvoice.api.auth import RequireApiKey
from breathvoice.api.deps import PrincipalDep, ServicesDep
from breathvoice.errors import OutputNotFound
from breathvoice.keys.access import ANONYMOUS, Principal

router = APIRouter(tags=["synthesis"], dependencies=[RequireApiKey])


def output_folder(principal: Principal) -> str | None:
    """The key whose folder the caller's files go to; None: the shared folder (no keys)."""
    return None if principal == ANONYMOUS else principal.key_id


def _serve(services: ServicesDep, voice_group_id: str, filename: str,
           key_id: str | None) -> FileResponse:
    path = services.outputs.find(voice_group_id, filename, key_id)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=path.name)


@router.get("/breathvoice/outputs/{voice_group_id}/{filename}", response_class=FileResponse)
def download_output(voice_group_id: str, filename: str, services: ServicesDep,
                    principal: PrincipalDep) -> FileResponse:
    """Download a file made by single-tts or batch-tts without a key (its ``audio_url``)."""
    if principal.scope != "admin":
        raise OutputNotFound()
    return _serve(services, voice_group_id, filename, None)


@router.get("/breathvoice/outputs/_keys/{key_id}/{voice_group_id}/{filename}",
            response_class=FileResponse)
def download_key_output(key_id: str, voice_group_id: str, filename: str,
                        services: ServicesDep, principal: PrincipalDep) -> FileResponse:
    """Download a file made by single-tts or batch-tts with a key (its ``audio_url``)."""
    if principal.scope != "admin" and principal.key_id != key_id:
        raise OutputNotFound()
    return _serve(services, voice_group_id, filename, key_id)

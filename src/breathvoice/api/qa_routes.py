"""``POST /breathvoice/qa``: check any audio against its script and get the QA report.

The upload is untrusted: its size is capped before it is read whole, it is decoded by
the project's decoder (anything that is not audio is a 400) and its length is capped.
Decoding and the check itself (speech recognition) run in worker threads. The speech
recogniser is the one the app's lifespan made (shared with the checks of job takes); it
loads on first use, or at start in the background with ``BREATHVOICE_QA_PRELOAD``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireApiKey
from breathvoice.api.deps import ServicesDep
from breathvoice.api.uploads import read_upload
from breathvoice.audio.decode import decode_audio
from breathvoice.errors import InvalidRequest
from breathvoice.qa import check_take
from breathvoice.settings import Settings

router = APIRouter(dependencies=[RequireApiKey])


@router.post("/breathvoice/qa", tags=["quality"])
async def check_audio(
    request: Request,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="the take: wav, flac, ogg, mp3, m4a, ...")],
    text: Annotated[str, Form(description="the script the take should say")],
    language: Annotated[str | None, Form(description="'zh', 'en' or 'ja'; default: "
                                         "guessed from the text")] = None,
) -> dict[str, Any]:
    """Check audio (ours or not) against its script: what was said (CER for Chinese and
    Japanese, WER for English), audio faults, loudness, and a verdict ``ok``, ``warn`` or
    ``fail`` with its reasons."""
    settings: Settings = request.app.state.settings
    if len(text) > settings.max_text_chars:
        raise InvalidRequest(
            f"text is {len(text)} characters; the limit is {settings.max_text_chars}")
    data = await read_upload(file, settings.max_qa_upload_bytes)
    samples, rate = await run_in_threadpool(decode_audio, data,
                                            max_seconds=settings.max_qa_seconds)
    report = await run_in_threadpool(check_take, samples, rate, text, language,
                                     services.recogniser)
    return report.to_dict()

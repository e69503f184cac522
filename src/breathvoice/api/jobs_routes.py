"""Script jobs over HTTP (``/breathvoice/jobs``): thin routes over :mod:`breathvoice.jobs`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from breathvoice.api.auth import RequireApiKey, access_control
from breathvoice.api.deps import ServicesDep
from breathvoice.api.metering import SpeechMeter
from breathvoice.errors import EngineError, InvalidRequest
from breathvoice.jobs.bestof import take_variant
from breathvoice.jobs.models import ENDED, JobLine
from breathvoice.jobs.script import RawRow, rows_from_json, rows_from_table
from breathvoice.jobs.service import Caller, Charge, JobService
from breathvoice.keys.access import Principal

router = APIRouter(tags=["jobs"], dependencies=[RequireApiKey])
PrincipalDep = Annotated[Principal, RequireApiKey]
EVENT_POLL_SECONDS = 1.0
_FIELDS = ("voice_group_id", "name", "takes", "loudness", "pronunciation_dictionary_locators")
_LOUDNESS = {"oneOf": [{"type": "string", "enum": ["podcast", "game", "broadcast"]},
                       {"type": "object", "properties": {"target_lufs": {"type": "number"},
                                                          "true_peak_db": {"type": "number"}}}]}
_SUBMIT_DOC = {"requestBody": {"content": {
    "application/json": {"schema": {"type": "object", "required": ["lines"], "properties": {
        "name": {"type": "string"}, "takes": {"type": "integer", "default": 1},
        "voice_group_id": {"type": "string"}, "loudness": _LOUDNESS,
        "pronunciation_dictionary_locators": {"type": "array", "maxItems": 3, "items": {
            "type": "object", "required": ["pronunciation_dictionary_id"]}},
        "lines": {"type": "array", "items": {"type": "object",
                                             "required": ["text", "filename"]}}}}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "voice_group_id": {"type": "string"},
        "name": {"type": "string"}, "takes": {"type": "integer"},
        "loudness": {"type": "string"},
        "pronunciation_dictionary_locators": {"type": "string"}}}}}}}


def _jobs(services: ServicesDep) -> JobService:
    if services.jobs is None:
        raise EngineError("script jobs are not available")
    return services.jobs


JobsDep = Annotated[JobService, Depends(_jobs)]


def _caller(principal: Principal) -> Caller:
    return Caller(principal.key_id, principal.scope == "admin")


def _charge(request: Request, principal: Principal) -> Charge:
    return SpeechMeter(access_control(request.app), principal, request.state).charge


def _base(request: Request, services: ServicesDep) -> str:
    return (services.settings.public_base_url or str(request.base_url)).rstrip("/")


def _line_json(base: str, job_id: str, line: JobLine) -> dict[str, Any]:
    chosen = line.chosen
    body: dict[str, Any] = {
        "line_id": line.line_id, "filename": line.filename, "text": line.text,
        "voice_group_id": line.voice_group_id, "emotion": line.emotion,
        "reference_audio": chosen.reference_audio if chosen else None,
        "status": line.status,
        "takes": [{"take": t.take, "duration": t.duration, "created_at": t.created_at,
                   "emotion": t.emotion, "reference_audio": t.reference_audio,
                   "audio_url": f"{base}/breathvoice/jobs/{job_id}/lines/{line.line_id}"
                                f"/takes/{t.take}/audio",
                   "variant": take_variant(t.take).as_json(), "qa": t.qa}
                  for t in line.takes],
        "chosen_take": chosen.take if chosen else None,
        "chosen_by": line.chosen_by if chosen else None,
    }
    if line.error:
        body["error"] = line.error
    return body


async def _script(request: Request) -> tuple[list[RawRow], dict[str, Any]]:
    """The rows and job fields of a JSON body or a multipart upload."""
    max_lines = _jobs(request.app.state.services).rules.max_lines
    if "multipart/form-data" in request.headers.get("content-type", ""):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("send the script as the multipart field 'file'")
        data = await upload.read()
        rows = await run_in_threadpool(rows_from_table, data, max_lines)
        fields = {k: form.get(k) for k in _FIELDS}
        fields["name"] = fields["name"] or upload.filename
        return rows, fields
    try:
        body = await request.json()
    except ValueError as exc:
        raise InvalidRequest("the body must be JSON or a multipart upload") from exc
    fields = {k: body.get(k) for k in _FIELDS} if isinstance(body, dict) else {}
    return rows_from_json(body), fields


@router.post("/breathvoice/jobs", status_code=202, openapi_extra=_SUBMIT_DOC,
             summary="Submit a script: every line becomes an audio file, in the background")
async def submit_job(request: Request, services: ServicesDep, jobs: JobsDep,
                     principal: PrincipalDep) -> JSONResponse:
    """Lines as JSON or a CSV/TSV ``file`` (``filename,text`` + optional columns). The
    whole script is checked first: a bad row gets 400 naming its row and column."""
    rows, fields = await _script(request)
    default_group = fields.get("voice_group_id")
    if default_group is not None and not isinstance(default_group, str):
        raise InvalidRequest("voice_group_id must be a string")
    job = await run_in_threadpool(
        jobs.submit, rows, _caller(principal), _charge(request, principal),
        default_group=default_group, name=fields.get("name"), takes=fields.get("takes"),
        loudness=fields.get("loudness"),
        dictionaries=fields.get("pronunciation_dictionary_locators"))
    return JSONResponse(job.as_json(time.time()), status_code=202)


@router.get("/breathvoice/jobs", summary="Jobs of this key (all jobs for an admin key)")
async def list_jobs(jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(jobs.list_jobs, _caller(principal))
    now = time.time()
    return {"jobs": [job.as_json(now) for job in found], "count": len(found)}


@router.get("/breathvoice/jobs/{job_id}", summary="A job's status, counts, progress and ETA")
async def get_job(job_id: str, jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    job = await run_in_threadpool(jobs.get, job_id, _caller(principal))
    return job.as_json(time.time())


@router.get("/breathvoice/jobs/{job_id}/lines", summary="A page of a job's lines and takes")
async def job_lines(job_id: str, request: Request, services: ServicesDep, jobs: JobsDep,
                    principal: PrincipalDep, offset: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    lines, total = await run_in_threadpool(jobs.lines, job_id, _caller(principal), offset,
                                           limit)
    base = _base(request, services)
    return {"lines": [_line_json(base, job_id, line) for line in lines], "total": total,
            "offset": offset, "limit": limit}


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.get("/breathvoice/jobs/{job_id}/events", response_class=StreamingResponse,
            summary="Progress as Server-Sent Events; the stream ends when the job ends")
async def job_events(job_id: str, jobs: JobsDep, principal: PrincipalDep) -> StreamingResponse:
    caller = _caller(principal)
    first = await run_in_threadpool(jobs.get, job_id, caller)
    hub = jobs.runner.events
    queue = hub.subscribe(job_id)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield _sse("status", first.as_json(time.time()))
            status = first.status
            while status not in ENDED:
                try:
                    kind, data = await asyncio.wait_for(queue.get(), EVENT_POLL_SECONDS)
                except asyncio.TimeoutError:
                    job = await run_in_threadpool(jobs.store.get, job_id)
                    kind, data = "status", job.as_json(time.time())
                    if job.status == status:
                        continue
                if kind == "status":
                    status = data["status"]
                yield _sse(kind, data)
        finally:
            hub.unsubscribe(job_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})


@router.post("/breathvoice/jobs/{job_id}/cancel", summary="Cancel the lines not yet started")
async def cancel_job(job_id: str, jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    job = await run_in_threadpool(jobs.cancel, job_id, _caller(principal))
    await jobs.runner.publish_status(job_id)
    return job.as_json(time.time())


@router.post("/breathvoice/jobs/{job_id}/lines/{line_id}/redo", status_code=202,
             summary="Render one more take of a line")
async def redo_line(job_id: str, line_id: str, request: Request, services: ServicesDep,
                    jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    line = await run_in_threadpool(jobs.redo, job_id, line_id, _caller(principal),
                                   _charge(request, principal))
    await jobs.runner.publish_status(job_id)
    return _line_json(_base(request, services), job_id, line)


@router.post("/breathvoice/jobs/{job_id}/lines/{line_id}/choose",
             summary="Pick the take the archive uses: {\"take\": n}")
async def choose_take(job_id: str, line_id: str, request: Request, services: ServicesDep,
                      jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise InvalidRequest("send {\"take\": n}") from exc
    take = body.get("take") if isinstance(body, dict) else None
    line = await run_in_threadpool(jobs.choose, job_id, line_id, take, _caller(principal))
    return _line_json(_base(request, services), job_id, line)


@router.get("/breathvoice/jobs/{job_id}/lines/{line_id}/takes/{take}/audio",
            response_class=FileResponse, summary="Download one take")
async def take_audio(job_id: str, line_id: str, take: int, jobs: JobsDep,
                     principal: PrincipalDep) -> FileResponse:
    path = await run_in_threadpool(jobs.take_path, job_id, line_id, take, _caller(principal))
    return FileResponse(path, filename=path.name)


@router.get("/breathvoice/jobs/{job_id}/archive", response_class=FileResponse,
            summary="The voice pack: chosen takes, manifest.json and report.csv, as a zip")
async def job_archive(job_id: str, services: ServicesDep, jobs: JobsDep,
                      principal: PrincipalDep) -> FileResponse:
    job, path = await run_in_threadpool(jobs.archive, job_id, _caller(principal),
                                        services.settings.staging_dir)
    return FileResponse(path, media_type="application/zip", filename=f"{job.job_id}.zip",
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.delete("/breathvoice/jobs/{job_id}", summary="Delete a job and its audio")
async def delete_job(job_id: str, jobs: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    await run_in_threadpool(jobs.delete, job_id, _caller(principal))
    return {"success": True, "job_id": job_id, "deleted": True}

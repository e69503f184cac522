"""``BreathVOICEClient``: the integration class of the BreathVOICE REST guide, on the stdlib.

Same methods as the guide's class (``test_connection``, ``get_voice_groups``,
``get_voice_group_details``, ``batch_tts``, ``upload_voice_group``) plus ``single_tts``,
``health``, ``download`` and script jobs (``submit_job``, ``get_job``, ``iter_job_events``,
``wait_job``, ``download_job``; see :mod:`.jobs`). Failures raise :mod:`.rest_errors` exceptions.
:class:`AsyncBreathVOICEClient` offers the same methods as coroutines.
"""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Mapping, Optional, Sequence, TypeVar, Union
from urllib.parse import quote

from ._http import HttpSession, json_body, multipart_body
from .jobs import JobsMixin, Progress
from .rest_errors import BreathVOICEError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
_T = TypeVar("_T")

TTSItem = Mapping[str, Any]
Output = Union[str, Mapping[str, Any]]


class BreathVOICEClient(JobsMixin):
    """BreathVOICE REST client.

    ``base_url`` defaults to ``BREATHVOICE_URL``, then ``http://127.0.0.1:8000``;
    ``api_key`` to ``BREATHVOICE_API_KEY`` (sent as ``Authorization: Bearer`` and
    ``api-key``). ``timeout`` bounds quick calls, ``synthesis_timeout`` synthesis and
    uploads. ``max_retries`` retries 429/5xx answers (and connection failures of GETs)
    with exponential ``backoff``. ``session.headers`` is added to every request.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        synthesis_timeout: float = 300.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = (base_url or os.environ.get("BREATHVOICE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.api_key = api_key if api_key is not None else os.environ.get("BREATHVOICE_API_KEY")
        self.synthesis_timeout = synthesis_timeout
        self.session = HttpSession(
            self.base_url, timeout=timeout, max_retries=max_retries, backoff=backoff
        )
        if self.api_key:
            self.session.headers.update(
                {"Authorization": f"Bearer {self.api_key}", "api-key": self.api_key}
            )

    def test_connection(self) -> bool:
        """True when ``GET /`` answers 200; never raises."""
        try:
            answer = self.session.request(
                "GET", "/", retries=0, timeout=min(self.session.timeout, 10.0)
            )
            return answer.status == 200
        except BreathVOICEError:
            return False

    def health(self) -> Dict[str, Any]:
        """``GET /breathvoice/health``: status, version, available_voice_groups."""
        return self.session.request("GET", "/breathvoice/health").json()

    def get_voice_groups(self) -> Dict[str, Any]:
        """``{"voice_groups": [...], "count": N}``."""
        return self.session.request("GET", "/breathvoice/voice-groups").json()

    def get_voice_group_details(self, voice_group_id: str) -> Dict[str, Any]:
        """Reference files, emotions, file count and status of one voice group."""
        path = f"/breathvoice/voice-groups/{quote(voice_group_id, safe='')}"
        return self.session.request("GET", path).json()

    def single_tts(
        self, text: str, filename: str, voice_group_id: str, *, return_audio: bool = False
    ) -> Dict[str, Any]:
        """Make one file; the answer's ``result`` has ``output_path`` and ``audio_url``.

        ``return_audio=True`` also asks for the audio inline (base64 ``audio_data``).
        """
        payload: Dict[str, Any] = {"text": text, "filename": filename,
                                   "voice_group_id": voice_group_id}
        if return_audio:
            payload["return_audio"] = True
        return self._post_json("/breathvoice/single-tts", payload)

    def batch_tts(
        self,
        requests: Union[Sequence[TTSItem], str],
        items: Optional[Sequence[TTSItem]] = None,
        *,
        return_audio: bool = False,
    ) -> Dict[str, Any]:
        """Make several files: ``requests`` is a list of ``{text, filename, voice_group_id}``.

        ``batch_tts(voice_group_id, requests)`` (as in the guide's later examples) is also
        accepted: the group fills in items that name none.
        """
        if isinstance(requests, str):
            group = requests
            batch = [{"voice_group_id": group, **item} for item in (items or [])]
        else:
            batch = [dict(item) for item in requests]
        payload: Dict[str, Any] = {"requests": batch}
        if return_audio:
            payload["return_audio"] = True
        return self._post_json("/breathvoice/batch-tts", payload)

    def upload_voice_group(
        self, zip_file_path: Union[str, Path], voice_group_id: str, overwrite: bool = False
    ) -> Dict[str, Any]:
        """Upload a zip of ``<Group>_<emotion>.wav`` clips as a voice group."""
        path = Path(zip_file_path)
        data = path.read_bytes()
        body, content_type = multipart_body(
            {"voice_group_id": voice_group_id, "overwrite": str(bool(overwrite)).lower()},
            [("file", path.name, data, "application/zip")],
        )
        answer = self.session.request(
            "POST", "/breathvoice/upload-voice-group", body=body, content_type=content_type,
            timeout=self.synthesis_timeout,
        )
        return answer.json()

    def download(self, output: Output, dest: Optional[Union[str, Path]] = None) -> bytes:
        """The bytes of a made file; also written to ``dest`` when given.

        ``output`` is a result dict (its ``audio_url`` or ``output_path``), a whole
        single-tts answer, an ``audio_url`` or an ``output_path`` string.
        """
        data = self.session.request("GET", _output_url(output)).body
        if dest is not None:
            Path(dest).write_bytes(data)
        return data

    def _post_json(self, path: str, payload: Mapping[str, Any]) -> Dict[str, Any]:
        body, content_type = json_body(payload)
        answer = self.session.request(
            "POST", path, body=body, content_type=content_type, timeout=self.synthesis_timeout
        )
        return answer.json()


def _output_url(output: Output) -> str:
    location = output if isinstance(output, str) else _location_in(output)
    if location.startswith(("http://", "https://")):
        return location
    relative = location.lstrip("/")
    if relative.startswith("breathvoice/outputs/"):
        return "/" + relative
    return "/breathvoice/outputs/" + quote(relative)


def _location_in(result: Mapping[str, Any]) -> str:
    inner = result.get("result")
    if isinstance(inner, Mapping):
        result = inner
    location = result.get("audio_url") or result.get("output_path")
    if not isinstance(location, str) or not location:
        raise ValueError("the result has neither 'audio_url' nor 'output_path'")
    return location


class AsyncBreathVOICEClient:
    """:class:`BreathVOICEClient` with every method a coroutine (run in a worker thread)."""

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None,
                 **options: Any) -> None:
        self.sync = BreathVOICEClient(base_url, api_key, **options)
        self.base_url = self.sync.base_url

    async def _run(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(call, *args, **kwargs))

    async def test_connection(self) -> bool:
        return await self._run(self.sync.test_connection)

    async def health(self) -> Dict[str, Any]:
        return await self._run(self.sync.health)

    async def get_voice_groups(self) -> Dict[str, Any]:
        return await self._run(self.sync.get_voice_groups)

    async def get_voice_group_details(self, voice_group_id: str) -> Dict[str, Any]:
        return await self._run(self.sync.get_voice_group_details, voice_group_id)

    async def single_tts(self, text: str, filename: str, voice_group_id: str, *,
                         return_audio: bool = False) -> Dict[str, Any]:
        return await self._run(self.sync.single_tts, text, filename, voice_group_id,
                               return_audio=return_audio)

    async def batch_tts(self, requests: Union[Sequence[TTSItem], str],
                        items: Optional[Sequence[TTSItem]] = None, *,
                        return_audio: bool = False) -> Dict[str, Any]:
        return await self._run(self.sync.batch_tts, requests, items, return_audio=return_audio)

    async def upload_voice_group(self, zip_file_path: Union[str, Path], voice_group_id: str,
                                 overwrite: bool = False) -> Dict[str, Any]:
        return await self._run(self.sync.upload_voice_group, zip_file_path, voice_group_id,
                               overwrite)

    async def download(self, output: Output, dest: Optional[Union[str, Path]] = None) -> bytes:
        return await self._run(self.sync.download, output, dest)

    async def submit_job(self, lines: Union[Sequence[TTSItem], str, Path],
                         voice_group_id: Optional[str] = None, *, name: Optional[str] = None,
                         takes: int = 1,
                         loudness: Optional[Union[str, Mapping[str, float]]] = None
                         ) -> Dict[str, Any]:
        return await self._run(self.sync.submit_job, lines, voice_group_id, name=name,
                               takes=takes, loudness=loudness)

    async def get_job(self, job_id: str) -> Dict[str, Any]:
        return await self._run(self.sync.get_job, job_id)

    async def iter_job_events(self, job_id: str) -> AsyncIterator[Dict[str, Any]]:
        events = self.sync.iter_job_events(job_id)
        done = object()
        while True:
            event = await self._run(next, events, done)
            if event is done:
                return
            yield event

    async def wait_job(self, job_id: str, progress: Optional[Progress] = None,
                       poll_interval: float = 1.0) -> Dict[str, Any]:
        while True:
            job = await self.get_job(job_id)
            if progress is not None:
                progress(job)
            if job.get("status") in ("completed", "failed", "cancelled"):
                return job
            await asyncio.sleep(poll_interval)

    async def download_job(self, job_id: str,
                           dest: Optional[Union[str, Path]] = None) -> bytes:
        return await self._run(self.sync.download_job, job_id, dest)


__all__ = ["AsyncBreathVOICEClient", "BreathVOICEClient"]

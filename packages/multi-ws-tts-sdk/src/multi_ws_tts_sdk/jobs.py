"""Script jobs for :class:`BreathVOICEClient`: submit a whole script, follow it, fetch the pack.

A job runs on the server whatever happens to the client: ``wait_job`` can be interrupted
and called again later with the same ``job_id``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Union

from ._http import HttpSession, json_body, multipart_body
from .rest_errors import BreathVOICEError

ENDED = ("completed", "failed", "cancelled")
Progress = Callable[[Dict[str, Any]], None]


class JobsMixin:
    """Job methods; the class using it provides ``session`` and ``synthesis_timeout``."""

    session: HttpSession
    synthesis_timeout: float

    def submit_job(
        self,
        lines: Union[Sequence[Mapping[str, Any]], str, Path],
        voice_group_id: Optional[str] = None,
        *,
        name: Optional[str] = None,
        takes: int = 1,
        loudness: Optional[Union[str, Mapping[str, float]]] = None,
    ) -> Dict[str, Any]:
        """Queue a script: a list of ``{text, filename, voice_group_id?, ...}`` or the path of
        a CSV/TSV file (``filename,text`` + optional columns). Returns the job (status 202).

        ``takes`` (1-5) per line, the best one chosen by its QA check; ``loudness`` a preset
        (``"podcast"``, ``"game"``, ``"broadcast"``) or ``{"target_lufs", "true_peak_db"}``.
        """
        if isinstance(lines, (str, Path)):
            path = Path(lines)
            fields = {"takes": str(takes)}
            if voice_group_id:
                fields["voice_group_id"] = voice_group_id
            if name:
                fields["name"] = name
            if loudness is not None:
                fields["loudness"] = (loudness if isinstance(loudness, str)
                                      else json.dumps(dict(loudness)))
            body, content_type = multipart_body(
                fields, [("file", path.name, path.read_bytes(), "text/csv")])
        else:
            items = [dict(line) for line in lines]
            if voice_group_id:
                items = [{"voice_group_id": voice_group_id, **item} for item in items]
            payload: Dict[str, Any] = {"lines": items, "takes": takes}
            if name:
                payload["name"] = name
            if loudness is not None:
                payload["loudness"] = loudness if isinstance(loudness, str) else dict(loudness)
            body, content_type = json_body(payload)
        answer = self.session.request("POST", "/breathvoice/jobs", body=body,
                                      content_type=content_type,
                                      timeout=self.synthesis_timeout)
        return answer.json()

    def get_job(self, job_id: str) -> Dict[str, Any]:
        return self.session.request("GET", f"/breathvoice/jobs/{job_id}").json()

    def list_jobs(self) -> Dict[str, Any]:
        return self.session.request("GET", "/breathvoice/jobs").json()

    def get_job_lines(self, job_id: str, offset: int = 0, limit: int = 100) -> Dict[str, Any]:
        path = f"/breathvoice/jobs/{job_id}/lines?offset={offset}&limit={limit}"
        return self.session.request("GET", path).json()

    def cancel_job(self, job_id: str) -> Dict[str, Any]:
        return self.session.request("POST", f"/breathvoice/jobs/{job_id}/cancel").json()

    def delete_job(self, job_id: str) -> Dict[str, Any]:
        return self.session.request("DELETE", f"/breathvoice/jobs/{job_id}").json()

    def iter_job_events(self, job_id: str) -> Iterator[Dict[str, Any]]:
        """Server-Sent Events of the job: ``{"event": "line"|"qa"|"status", "data": {...}}``,
        until the job ends."""
        request = urllib.request.Request(
            self.session.url(f"/breathvoice/jobs/{job_id}/events"),
            headers={"Accept": "text/event-stream", **self.session.headers})
        kind, data = "message", []
        try:
            with urllib.request.urlopen(request, timeout=self.synthesis_timeout) as stream:
                for raw in stream:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield {"event": kind, "data": json.loads("\n".join(data))}
                        kind, data = "message", []
        except OSError as exc:
            raise BreathVOICEError(f"the job's event stream failed: {exc}") from exc

    def wait_job(self, job_id: str, progress: Optional[Progress] = None,
                 poll_interval: float = 1.0, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Poll until the job ends; ``progress(job)`` is called with each new state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Optional[Dict[str, Any]] = None
        while True:
            job = self.get_job(job_id)
            if progress is not None and job != last:
                progress(job)
            last = job
            if job.get("status") in ENDED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not end in {timeout} s")
            time.sleep(poll_interval)

    def download_job(self, job_id: str, dest: Optional[Union[str, Path]] = None) -> bytes:
        """The voice pack (zip of the chosen takes, manifest.json, report.csv)."""
        data = self.session.request("GET", f"/breathvoice/jobs/{job_id}/archive",
                                    timeout=self.synthesis_timeout).body
        if dest is not None:
            Path(dest).write_bytes(data)
        return data

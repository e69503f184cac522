"""Every job take checked in the background, right after it is committed.

One thread of low CPU priority runs the checks one at a time (read the take, find its
faults, measure its loudness, hear it with the shared speech recogniser, which has its own
low-priority thread): synthesis workers are never held, so live requests and job lines
keep the cores. The report is stored with the take; once every take of a line is checked,
the store re-rolls it or chooses its best take (:func:`~breathvoice.jobs.verdicts.decide_line`).

Checks are durable: takes without a report are found again at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from breathvoice.audio.decode import decode_audio
from breathvoice.jobs.models import JobLine, Take
from breathvoice.jobs.store import JobStore
from breathvoice.qa.check import check_take
from breathvoice.qa.detectors import WARN
from breathvoice.qa.recognise import Transcriber, lower_priority
from breathvoice.qa.report import QAReport

__all__ = ["TakeChecker"]

log = logging.getLogger(__name__)

Decided = Callable[[str, JobLine, Take, dict[str, Any], str | None], None]
"""Called on the event loop after a report is stored: job, line, take, report, and what
became of the line ('completed', 'queued' for a re-roll, or None while others wait)."""


class TakeChecker:
    def __init__(self, store: JobStore, recogniser: Transcriber, root: Path, *,
                 nice: int = 10) -> None:
        self.store = store
        self.recogniser = recogniser
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-takes",
                                        initializer=lower_priority, initargs=(nice,))
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_decided: Decided | None = None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def submit(self, job_id: str, line: JobLine, take: Take) -> None:
        """Check ``take`` in the background (call it on the event loop)."""
        task = asyncio.create_task(self._check(job_id, line, take))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        """Queue the takes a previous run left unchecked; how many."""
        left = await asyncio.to_thread(self.store.unchecked)
        for job_id, line, take in left:
            self.submit(job_id, line, take)
        return len(left)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def _check(self, job_id: str, line: JobLine, take: Take) -> None:
        loop = asyncio.get_running_loop()
        try:
            report = await loop.run_in_executor(self._pool, self._report, line, take)
        except FileNotFoundError:
            return  # the job was deleted meanwhile
        try:
            decided = await asyncio.to_thread(self.store.record_qa, job_id, line.position,
                                              take.take, report, time.time())
        except Exception:
            log.exception("storing a take's QA report failed")
            return
        if self.on_decided is not None:
            self.on_decided(job_id, line, take, report, decided)

    def _report(self, line: JobLine, take: Take) -> dict[str, Any]:
        """The take's QA report (blocking, on the checker's thread)."""
        path = self.root / take.path
        samples, rate = decode_audio(path.read_bytes())
        try:
            return check_take(samples, rate, line.text, line.language,
                              self.recogniser).to_dict()
        except Exception as exc:  # a check that cannot run must not hold the line forever
            log.exception("checking a take failed")
            return unchecked_report(line, len(samples) / rate, exc)


def unchecked_report(line: JobLine, seconds: float, exc: Exception) -> dict[str, Any]:
    """A ``warn`` report for a take the checker could not hear (it deserves a listen)."""
    reason = getattr(exc, "message", None) or type(exc).__name__
    return QAReport(
        verdict=WARN, reasons=[f"the take could not be checked ({reason})"],
        language=line.language or "", text=line.text, heard="", metric="", error_rate=1.0,
        differences=[], faults=[],
        loudness={"integrated_lufs": None, "sample_peak_db": None, "true_peak_db": None},
        duration_seconds=round(seconds, 3)).to_dict()

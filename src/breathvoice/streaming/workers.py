"""The scheduler's worker threads: each takes the most deserving job, pulls one chunk from
it and puts it back.

The most deserving job: a live one before any background one (background jobs run only
while no live job waits or runs, on at most ``background_workers`` workers), a job that
has produced nothing yet before every started one, then the owner served least recently.
Each step passes the engine the options the policy asks for, requeues the job (a paused
background job restarts its engine call later) or finishes it, once. Submitting, pausing
and the asyncio side are :mod:`breathvoice.streaming.scheduler`.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Hashable
from dataclasses import replace
from typing import Literal

from breathvoice.engines.base import Engine, SynthesisOptions
from breathvoice.errors import BreathVoiceError, EngineError
from breathvoice.streaming.admission import Admission
from breathvoice.streaming.job import Job

log = logging.getLogger(__name__)

SchedulerPolicy = Literal["responsive", "classic"]


class WorkerPool:
    """The workers and the queue they share; :class:`~.scheduler.SynthesisScheduler` puts
    jobs in it."""

    def __init__(self, engine: Engine, workers: int,
                 background_workers: int | None = None, *,
                 policy: SchedulerPolicy = "responsive",
                 admission: Admission | None = None) -> None:
        self._engine = engine
        self.policy: SchedulerPolicy = policy
        self.admission = admission or Admission(workers=workers)
        self._running: set[Job] = set()
        self._ready: list[Job] = []
        self._owner_served: dict[Hashable, float] = {}
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closed = False
        self._busy = 0
        self._live_busy = 0
        self._background_limit = max(1, background_workers or workers)
        self._threads = [
            threading.Thread(target=self._work, name=f"synth-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    def _drop(self, job: Job) -> None:
        with self._cond:
            if job not in self._ready:
                return  # running now: the worker sees the token and finishes it
            self._ready.remove(job)
        self._finish(job, None)

    def _next_job(self) -> Job | None:
        with self._cond:
            while not (eligible := self._eligible()) and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job = min(eligible, key=self._priority)
            self._ready.remove(job)
            self._running.add(job)
            self._busy += 1
            self._live_busy += not job.background
            if job.chunks_sent == 0 and job._iterator is None:
                new_waiting = sum(1 for waiting in self._ready if waiting.chunks_sent == 0)
                job.started_saturated = new_waiting > len(self._threads) - self._busy
            if job.background and job.attempt is None and self.policy == "responsive":
                job.new_attempt()
            now = time.monotonic()
            job.last_served = now
            self._owner_served[job.owner] = now
            return job

    def _eligible(self) -> list[Job]:
        live = [job for job in self._ready if not job.background]
        background_busy = self._busy - self._live_busy
        if live or self._live_busy or background_busy >= self._background_limit:
            return live
        return self._ready

    def _priority(self, job: Job) -> tuple[bool, float, float, int]:
        started = job.chunks_sent > 0
        return (started, self._owner_served.get(job.owner, 0.0), job.last_served, job.seq)

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._step(job)
            finally:
                with self._cond:
                    self._running.discard(job)
                    job.pausing = False
                    self._busy -= 1
                    if not job.background:
                        self._live_busy -= 1
                    self._cond.notify_all()  # background work may be eligible now

    def _options(self, job: Job) -> SynthesisOptions:
        options = job.options
        if job.attempt is not None:
            options = replace(options, cancel=job.attempt)
        if self.policy == "responsive" and not job.background:
            options = replace(options, bounded_chunks=True)
        if job.background:
            options = replace(options, background=True)
        if options.early_first_chunk and (job.chunks_sent or (
                self.policy == "classic" and job.started_saturated)):
            options = replace(options, early_first_chunk=False)
        return options

    def _step(self, job: Job) -> None:
        if job.cancelled:
            self._finish(job, None)
            return
        started = time.perf_counter()
        try:
            if job._iterator is None:
                if job.rest_is_spoken:
                    self._finish(job, None)
                    return
                job._iterator = iter(self._engine.synthesize(job.rest, job.voice,
                                                             self._options(job)))
            chunk = next(job._iterator, None)
        except Exception as exc:
            if job.paused:  # the aborted call may fail: it is made again later
                self._requeue(job, paused=True)
            elif isinstance(exc, BreathVoiceError):
                self._finish(job, exc)
            else:  # an engine bug must not kill the worker
                log.exception("synthesis failed")
                self._finish(job, EngineError(f"speech synthesis failed ({type(exc).__name__})"))
            return
        if job.cancelled or (chunk is None and not job.paused):
            self._finish(job, None)
            return
        if chunk is not None:
            if not job.background:
                self.admission.record(chunk.duration, time.perf_counter() - started)
            job.chunks_sent += 1
            job.advance(chunk)
            try:
                job.on_chunk(chunk)
            except Exception:
                log.exception("chunk callback failed")
                job.cancel()
        self._requeue(job, paused=job.paused)

    def _requeue(self, job: Job, paused: bool) -> None:
        """Put ``job`` back for its next chunk; a paused job restarts its engine call."""
        if paused:
            self._close_iterator(job)
            job.end_attempt()
        with self._cond:
            requeue = not (self._closed or job.cancelled)
            if requeue:
                self._ready.append(job)
                self._cond.notify()
        if not requeue:
            self._finish(job, None)

    def _close_iterator(self, job: Job) -> None:
        iterator, job._iterator = job._iterator, None
        if iterator is not None and hasattr(iterator, "close"):
            try:
                iterator.close()
            except Exception:
                log.exception("closing the engine generator failed")

    def _finish(self, job: Job, error: BaseException | None) -> None:
        with self._cond:
            if job._finished:
                return
            job._finished = True
            if not any(j.owner == job.owner for j in self._ready):
                self._owner_served.pop(job.owner, None)
        self._close_iterator(job)
        job.end_attempt()
        try:
            job.on_done(error)
        except Exception:
            log.exception("done callback failed")

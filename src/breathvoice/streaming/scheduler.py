"""Synthesis workers shared by every request and every socket.

Engines are synchronous, so synthesis runs in a fixed pool of worker threads. Work is
scheduled one chunk at a time: a worker takes the most deserving job, pulls one chunk from
its generator, hands it to the job's callback and puts the job back. That gives:

- fairness: among jobs that have started, the owner served least recently goes next, so
  no socket or batch can starve another;
- fast starts: a job that has produced nothing yet goes before every started job, so the
  first chunk of a new context is served before later chunks of old ones;
- a short first chunk (see ``SynthesisOptions.early_first_chunk``); the ``classic``
  policy drops it for a job started while more new jobs wait than workers are free;
- a background lane (script jobs), served only while no live job waits or runs, on at
  most ``background_workers`` workers. With the ``responsive`` policy (default) a new live
  job pauses the running background jobs, which resume later where they stopped (see
  :mod:`.job`); ``classic`` lets their chunks finish. Live chunks are
  bounded in compute (``SynthesisOptions.bounded_chunks``);
- admission: when live demand is over real-time capacity, new live jobs are accepted
  and everyone slows evenly, or refused (see :mod:`.admission`);
- prompt cancellation: a cancelled job is dropped at once if queued, and its engine call
  is aborted through the job's :class:`CancelToken` if running.

Callbacks run on worker threads; :meth:`SynthesisScheduler.stream` bridges to asyncio.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import AsyncGenerator, Hashable
from dataclasses import replace
from typing import Literal

from breathvoice.engines.base import AudioChunk, CancelToken, Engine, SynthesisOptions, VoiceState
from breathvoice.errors import BreathVoiceError, EngineError
from breathvoice.streaming.admission import Admission
from breathvoice.streaming.job import ChunkCallback, DoneCallback, Job

__all__ = ["ChunkCallback", "DoneCallback", "Job", "SchedulerPolicy", "SynthesisScheduler"]

log = logging.getLogger(__name__)

SchedulerPolicy = Literal["responsive", "classic"]


class SynthesisScheduler:
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

    def submit(
        self,
        *,
        owner: Hashable,
        text: str,
        voice: VoiceState,
        options: SynthesisOptions,
        on_chunk: ChunkCallback,
        on_done: DoneCallback,
        background: bool = False,
    ) -> Job:
        """Queue a job; ``background`` ones wait while any live job waits or runs."""
        token = options.cancel or CancelToken()
        job = Job(owner=owner, text=text, voice=voice, options=replace(options, cancel=token),
                  on_chunk=on_chunk, on_done=on_done, seq=next(self._seq), token=token,
                  background=background)
        with self._cond:
            if self._closed:
                raise EngineError("the server is shutting down")
            if not background:
                self.admission.check(self._live_jobs())
            self._ready.append(job)
            self._cond.notify()
            paused = self._pause_for_live() if not background else []
        token.on_cancel(lambda: self._drop(job))
        for attempt in paused:
            attempt.cancel()
        return job

    def _live_jobs(self) -> int:
        return sum(1 for job in (*self._ready, *self._running) if not job.background)

    def _pause_for_live(self) -> list[CancelToken]:
        """Pause every running background job: live work gets the workers and the cores
        (a background chunk on another worker would still take CPU from it)."""
        if self.policy != "responsive":
            return []
        victims = [job for job in self._running if job.background and not job.pausing
                   and job.resumable and job.attempt is not None]
        for victim in victims:
            victim.pausing = True
        return [victim.attempt for victim in victims if victim.attempt is not None]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending, self._ready = self._ready, []
            self._cond.notify_all()
        for job in pending:
            job.cancel()
            self._finish(job, None)
        for thread in self._threads:
            thread.join(timeout=5)

    async def stream(
        self, owner: Hashable, text: str, voice: VoiceState, options: SynthesisOptions,
        background: bool = False,
    ) -> AsyncGenerator[AudioChunk, None]:
        """Chunks of one job as an async iterator; leaving the loop early cancels the job."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[AudioChunk | BaseException | None] = asyncio.Queue()

        def put(item: AudioChunk | BaseException | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        job = self.submit(
            owner=owner, text=text, voice=voice, options=options,
            on_chunk=put, on_done=put, background=background,
        )
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancel()

    async def collect(
        self, owner: Hashable, text: str, voice: VoiceState, options: SynthesisOptions,
        background: bool = False,
    ) -> list[AudioChunk]:
        stream = self.stream(owner, text, voice, options, background)
        return [chunk async for chunk in stream]

    # worker side

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

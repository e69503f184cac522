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

Callbacks run on worker threads; :meth:`SynthesisScheduler.stream` bridges to asyncio. The
workers and how they choose and step jobs are :mod:`.workers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from dataclasses import replace

from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError
from breathvoice.streaming.job import ChunkCallback, DoneCallback, Job
from breathvoice.streaming.workers import WorkerPool

__all__ = ["ChunkCallback", "DoneCallback", "Job", "SynthesisScheduler"]


class SynthesisScheduler(WorkerPool):
    """Synthesis shared by every request and socket: submit jobs, stream their chunks."""

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

"""Synthesis workers shared by every request and every socket.

Engines are synchronous, so synthesis runs in a fixed pool of worker threads. Work is
scheduled one chunk at a time: a worker takes the most deserving job, pulls one chunk from
its generator, hands it to the job's callback and puts the job back. That gives:

- fairness: among jobs that have started, the owner served least recently goes next, so
  no socket or batch can starve another;
- fast starts: a job that has produced nothing yet goes before every started job, so the
  first chunk of a new context is served before later chunks of old ones;
- an early first chunk (cut at the first clause, see ``SynthesisOptions``) only while the
  engine keeps up: a job started while more new jobs wait than there are free workers
  speaks its first sentence whole, because every extra model call costs throughput
  exactly when the engine is saturated, and queueing, not sentence length, then sets
  the wait;
- a background lane (script jobs): a background job is served only while no live job
  waits or runs, and on at most ``background_workers`` workers at once, so a new live
  job finds a worker free instead of waiting for a background chunk to end;
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
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace

from breathvoice.engines.base import AudioChunk, CancelToken, Engine, SynthesisOptions, VoiceState
from breathvoice.errors import BreathVoiceError, EngineError

log = logging.getLogger(__name__)

ChunkCallback = Callable[[AudioChunk], None]
DoneCallback = Callable[[BaseException | None], None]


@dataclass(eq=False)
class Job:
    """One text to speak. Cancel it with :meth:`cancel`; ``on_done`` is called exactly once."""

    owner: Hashable
    text: str
    voice: VoiceState
    options: SynthesisOptions
    on_chunk: ChunkCallback
    on_done: DoneCallback
    seq: int
    token: CancelToken
    chunks_sent: int = 0
    last_served: float = 0.0
    started_saturated: bool = False
    background: bool = False
    _iterator: Iterator[AudioChunk] | None = field(default=None, repr=False)
    _finished: bool = False

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled


class SynthesisScheduler:
    def __init__(self, engine: Engine, workers: int,
                 background_workers: int | None = None) -> None:
        self._engine = engine
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
        job = Job(
            owner=owner,
            text=text,
            voice=voice,
            options=replace(options, cancel=token),
            on_chunk=on_chunk,
            on_done=on_done,
            seq=next(self._seq),
            token=token,
            background=background,
        )
        token.on_cancel(lambda: self._drop(job))
        with self._cond:
            if self._closed:
                raise EngineError("the server is shutting down")
            self._ready.append(job)
            self._cond.notify()
        return job

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
    ) -> AsyncIterator[AudioChunk]:
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
            self._busy += 1
            self._live_busy += not job.background
            if job.chunks_sent == 0:
                new_waiting = sum(1 for waiting in self._ready if waiting.chunks_sent == 0)
                job.started_saturated = new_waiting > len(self._threads) - self._busy
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
                    self._busy -= 1
                    if not job.background:
                        self._live_busy -= 1
                    self._cond.notify_all()  # background work may be eligible now

    def _step(self, job: Job) -> None:
        if job.cancelled:
            self._finish(job, None)
            return
        try:
            if job._iterator is None:
                options = job.options
                if options.early_first_chunk and job.started_saturated:
                    options = replace(options, early_first_chunk=False)
                job._iterator = iter(self._engine.synthesize(job.text, job.voice, options))
            chunk = next(job._iterator, None)
        except BreathVoiceError as exc:
            self._finish(job, exc)
            return
        except Exception as exc:  # an engine bug must not kill the worker
            log.exception("synthesis failed")
            self._finish(job, EngineError(f"speech synthesis failed ({type(exc).__name__})"))
            return
        if chunk is None or job.cancelled:
            self._finish(job, None)
            return
        job.chunks_sent += 1
        try:
            job.on_chunk(chunk)
        except Exception:
            log.exception("chunk callback failed")
            job.cancel()
        with self._cond:
            if self._closed or job.cancelled:
                requeue = False
            else:
                self._ready.append(job)
                self._cond.notify()
                requeue = True
        if not requeue:
            self._finish(job, None)

    def _finish(self, job: Job, error: BaseException | None) -> None:
        with self._cond:
            if job._finished:
                return
            job._finished = True
            if not any(j.owner == job.owner for j in self._ready):
                self._owner_served.pop(job.owner, None)
        if job._iterator is not None and hasattr(job._iterator, "close"):
            try:
                job._iterator.close()
            except Exception:
                log.exception("closing the engine generator failed")
        try:
            job.on_done(error)
        except Exception:
            log.exception("done callback failed")

"""The engine replica: one engine in one process, speaking for whoever calls it.

Each replica loads the engine once, warms it up, and runs its synthesis on a pool of
``engine_workers`` threads, one chunk per task. Waiting tasks are served first chunks
first, so a new context starts before later chunks of contexts already speaking, however
many requests the replica holds. Voice conditioning is sent once per voice (an object in
the cluster's store, named by its digest) and kept in a small LRU.

When the caller cancels its request (``close_context``, a dropped socket), the replica's
generator is cancelled at its next await: the job's :class:`CancelToken` is set, which
aborts a running model call where the engine can, and no further chunk is computed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import Any

from breathvoice.cluster.wire import Failure, VoiceRef, options_from_wire
from breathvoice.engines.base import AudioChunk, CancelToken, Engine, VoiceState, WarmsUp
from breathvoice.engines.registry import load_engine
from breathvoice.errors import BreathVoiceError
from breathvoice.settings import Settings

log = logging.getLogger(__name__)

VOICE_CACHE_SIZE = 64


class PriorityPool:
    """Threads that run the most urgent task first (lower ``priority``), then in order."""

    def __init__(self, workers: int) -> None:
        self._tasks: queue.PriorityQueue[tuple[int, int, Callable[[], Any], Future[Any]]] = (
            queue.PriorityQueue())
        self._seq = itertools.count()
        for i in range(workers):
            threading.Thread(target=self._work, name=f"replica-synth-{i}", daemon=True).start()

    def submit(self, priority: int, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((priority, next(self._seq), fn, future))
        return future

    def _work(self) -> None:
        while True:
            _, _, fn, future = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)


class EngineReplica:
    """The body of the engine deployment (wrapped by :mod:`breathvoice.cluster.deployments`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(**settings)
        self.engine: Engine = load_engine(self.settings)
        workers = self.settings.engine_workers
        if self.settings.engine_warmup_tokens and isinstance(self.engine, WarmsUp):
            self.engine.warm_up(workers, self.settings.engine_warmup_tokens)
        self._pool = PriorityPool(workers)
        self._voices: OrderedDict[str, VoiceState] = OrderedDict()
        self._active: dict[int, str] = {}
        self._ids = itertools.count()
        self._counts = {"started": 0, "finished": 0, "cancelled": 0, "chunks": 0}

    def describe(self) -> dict[str, Any]:
        return {"name": self.engine.name, "sample_rate": self.engine.sample_rate}

    def prepare_voice(self, reference: Any, sample_rate: int) -> VoiceState:
        return self.engine.prepare_voice(reference, sample_rate)

    def default_voice(self) -> VoiceState:
        return self.engine.default_voice()

    def stock_voices(self) -> dict[str, VoiceState]:
        return self.engine.stock_voices()

    def stats(self) -> dict[str, Any]:
        """What this replica is doing: its process and node, counters, the texts it speaks."""
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                **self._counts, "active": sorted(self._active.values())}

    async def synthesize(self, text: str, voice: VoiceRef,
                         options: dict[str, Any]) -> AsyncIterator[AudioChunk | Failure]:
        """Chunks of ``text``; an error of the engine ends the stream as a :class:`Failure`."""
        state = await self._voice(voice)
        token = CancelToken()
        iterator = iter(self.engine.synthesize(text, state, options_from_wire(options, token)))
        job = next(self._ids)
        self._active[job] = text
        self._counts["started"] += 1
        pending: Future[Any] | None = None
        try:
            for first in itertools.chain([True], itertools.repeat(False)):
                pending = self._pool.submit(0 if first else 1, lambda: next(iterator, None))
                chunk = await asyncio.wrap_future(pending)
                pending = None
                if chunk is None:
                    break
                self._counts["chunks"] += 1
                yield chunk
        except BreathVoiceError as exc:
            yield Failure.of(exc)
        except asyncio.CancelledError:
            self._counts["cancelled"] += 1
            raise
        finally:
            del self._active[job]
            self._counts["finished"] += 1
            token.cancel()
            _close_after(pending, iterator)

    async def _voice(self, voice: VoiceRef) -> VoiceState:
        state = self._voices.get(voice.digest)
        if state is None:
            state = await voice.state
            self._voices[voice.digest] = state
            while len(self._voices) > VOICE_CACHE_SIZE:
                self._voices.popitem(last=False)
        self._voices.move_to_end(voice.digest)
        return state


def _close_after(pending: Future[Any] | None, iterator: Iterator[AudioChunk]) -> None:
    """Close the engine's generator once no thread runs it any more."""

    def close(_: object = None) -> None:
        close_method = getattr(iterator, "close", None)
        if close_method is not None:
            try:
                close_method()
            except Exception:
                log.exception("closing the engine generator failed")

    if pending is None:
        close()
    else:
        pending.add_done_callback(close)

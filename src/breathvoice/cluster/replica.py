"""The engine replica: one engine in one process, speaking for whoever calls it.

Each replica loads the engine once, warms it up, and runs its synthesis on the same
:class:`~breathvoice.streaming.scheduler.SynthesisScheduler` as single-process mode, with
``engine_workers`` threads, so the same rules hold on every replica whichever ingress a
request came through:

- first chunks go first: a new context starts before later chunks of contexts already
  speaking, however many requests the replica holds, and running ones take turns;
- live work keeps priority over job lines (requests with ``SynthesisOptions.background``):
  a job line waits while live work waits or runs, and a live request arriving while a job
  line's chunk is being made pauses it (its model call is aborted), and the line resumes
  after the live work where it stopped, whole and in order.

Voice conditioning is sent once per voice (an object in the cluster's store, named by its
digest) and kept in a small LRU. The replica also hears takes for the quality checks
(:meth:`EngineReplica.transcribe`), so the ingress never loads a speech recogniser.

When the caller cancels its request (``close_context``, a dropped socket), the replica's
generator is cancelled at its next await: the scheduler's job is cancelled, which aborts a
running model call where the engine can, and no further chunk is computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from breathvoice.cluster.wire import Failure, VoiceRef, options_from_wire
from breathvoice.engines.base import AudioChunk, CancelToken, Engine, VoiceState, WarmsUp
from breathvoice.engines.registry import load_engine
from breathvoice.errors import BreathVoiceError
from breathvoice.qa.recognise import Transcript, make_recogniser
from breathvoice.settings import Settings
from breathvoice.streaming.scheduler import SynthesisScheduler

log = logging.getLogger(__name__)

VOICE_CACHE_SIZE = 64


class EngineReplica:
    """The body of the engine deployment (wrapped by :mod:`breathvoice.cluster.deployments`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(**settings)
        self.engine: Engine = load_engine(self.settings)
        workers = self.settings.engine_workers
        if self.settings.engine_warmup_tokens and isinstance(self.engine, WarmsUp):
            self.engine.warm_up(workers, self.settings.engine_warmup_tokens)
        # admission is the ingress's to decide: here every request is served
        self.scheduler = SynthesisScheduler(
            self.engine, workers, workers - self.settings.job_reserved_workers,
            policy=self.settings.scheduler_policy)
        self.recogniser = make_recogniser(self.settings)  # the model loads at first use
        if self.settings.qa_preload:
            self.recogniser.warm()
        self._voices: OrderedDict[str, VoiceState] = OrderedDict()
        self._active: dict[int, str] = {}
        self._ids = itertools.count()
        self._counts = {"started": 0, "finished": 0, "cancelled": 0, "chunks": 0,
                        "transcribed": 0}

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

    async def transcribe(self, samples: Any, sample_rate: int,
                         language: str | None = None) -> Transcript:
        """What is said in ``samples``: the recogniser of the quality checks, run here."""
        transcript = await asyncio.to_thread(self.recogniser.transcribe, samples,
                                             sample_rate, language)
        self._counts["transcribed"] += 1
        return transcript

    def warm_recogniser(self) -> None:
        self.recogniser.warm()

    async def synthesize(self, text: str, voice: VoiceRef,
                         options: dict[str, Any]) -> AsyncIterator[AudioChunk | Failure]:
        """Chunks of ``text``; an error of the engine ends the stream as a :class:`Failure`."""
        state = await self._voice(voice)
        wanted = options_from_wire(options, CancelToken())
        job = next(self._ids)
        self._active[job] = text
        self._counts["started"] += 1
        try:
            stream = self.scheduler.stream(job, text, state, wanted,
                                           background=wanted.background)
            async with contextlib.aclosing(stream) as chunks:
                async for chunk in chunks:
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

    async def _voice(self, voice: VoiceRef) -> VoiceState:
        state = self._voices.get(voice.digest)
        if state is None:
            state = await voice.state
            self._voices[voice.digest] = state
            while len(self._voices) > VOICE_CACHE_SIZE:
                self._voices.popitem(last=False)
        self._voices.move_to_end(voice.digest)
        return state


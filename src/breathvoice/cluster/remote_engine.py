"""The engine seam in Ray Serve mode: an :class:`Engine` whose work runs on engine replicas.

The scheduler, sessions, REST routes and job lines call it exactly as they call a local
engine (from worker threads, one chunk at a time); it forwards each call to the engine
deployment through a deployment handle and yields the streamed chunks. Cancelling the
job's :class:`CancelToken` cancels the request, which reaches the replica. A replica that
dies mid-stream costs the requests it was serving: they end with ``EngineError``
(``STREAMING_SERVICE_ERROR``) and the next request goes to a live replica.

Voice matching (:meth:`voice_matching`) runs on its own deployment; the ingress tells it
which groups were installed or removed, and reads their progress from the shared data
folder (:mod:`breathvoice.cluster.progress`). The quality checks' speech recogniser
(:meth:`speech_recogniser`) runs on the engine replicas: the ingress never loads one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, cast

import ray
from ray.exceptions import RayError
from ray.serve.exceptions import RequestCancelledError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from breathvoice.cluster.progress import ProgressBoard
from breathvoice.cluster.wire import Failure, VoiceRefs, options_to_wire
from breathvoice.engines.base import AudioChunk, FloatAudio, SynthesisOptions, VoiceState
from breathvoice.errors import BreathVoiceError, EngineError
from breathvoice.qa.recognise import Transcript

log = logging.getLogger(__name__)

LOST = "the engine replica speaking this stopped; please try again"


class RemoteEngine:
    """An engine deployment seen as an :class:`~breathvoice.engines.base.Engine`."""

    def __init__(self, engine: DeploymentHandle[Any], matcher: DeploymentHandle[Any] | None = None,
                 timeout: float = 600.0, progress: ProgressBoard | None = None) -> None:
        self._handle = engine
        self._matcher = matcher
        self._progress = progress
        self._timeout = timeout
        described = self._call("describe")
        self.name: str = described["name"]
        self.sample_rate: int = described["sample_rate"]
        self._voice_refs = VoiceRefs(ray.put)
        self._default: VoiceState | None = None
        self._stock: dict[str, VoiceState] | None = None
        self._lock = threading.Lock()

    def prepare_voice(self, reference: FloatAudio, sample_rate: int) -> VoiceState:
        state: VoiceState = self._call("prepare_voice", reference, sample_rate)
        return state

    def default_voice(self) -> VoiceState:
        with self._lock:
            if self._default is None:
                self._default = self._call("default_voice")
            return self._default

    def stock_voices(self) -> dict[str, VoiceState]:
        with self._lock:
            if self._stock is None:
                self._stock = self._call("stock_voices")
            return self._stock

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        response = cast(DeploymentResponseGenerator[Any],
                        self._handle.options(stream=True).synthesize.remote(
                            text, self._voice_refs(voice), options_to_wire(options)))
        token = options.cancel
        if token is not None:
            token.on_cancel(response.cancel)
        finished = False
        try:
            for item in response:
                if isinstance(item, Failure):
                    finished = True
                    raise item.exception()
                yield item
            finished = True
        except RequestCancelledError:
            finished = True
        except RayError as exc:
            finished = True
            log.warning("engine request failed: %s", type(exc).__name__)
            raise EngineError(LOST) from None
        finally:
            if token is not None:
                token.remove(response.cancel)
            if not finished:
                response.cancel()

    def voice_matching(self) -> RemoteMatching | None:
        if self._matcher is None or self._progress is None:
            return None
        return RemoteMatching(self._matcher, self._progress)

    def speech_recogniser(self) -> RemoteRecogniser:
        return RemoteRecogniser(self)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._handle, method).remote(*args).result(
                timeout_s=self._timeout)
        except RayError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BreathVoiceError):
                raise type(cause)(cause.message) from None
            log.warning("engine call %s failed: %s", method, type(exc).__name__)
            raise EngineError(LOST) from None


class RemoteRecogniser:
    """The checks' :class:`~breathvoice.qa.recognise.Transcriber`, heard on an engine replica
    (at a low CPU priority there, one take at a time per replica)."""

    def __init__(self, engine: RemoteEngine) -> None:
        self._engine = engine

    def transcribe(self, samples: FloatAudio, sample_rate: int,
                   language: str | None = None) -> Transcript:
        transcript: Transcript = self._engine._call("transcribe", samples, sample_rate,
                                                    language)
        return transcript

    def warm(self) -> None:
        self._engine._handle.warm_recogniser.remote()

    def close(self) -> None:
        pass


class RemoteMatching:
    """Tells the voice-matching deployment which groups were installed or removed, and
    reads their progress where it publishes it."""

    def __init__(self, matcher: DeploymentHandle[Any], progress: ProgressBoard) -> None:
        self._matcher = matcher
        self._progress = progress

    def submit(self, voice_group_id: str) -> None:
        self._matcher.submit.remote(voice_group_id)

    def cancel(self, voice_group_id: str) -> None:
        self._matcher.cancel.remote(voice_group_id)

    def progress(self, voice_group_id: str) -> float | None:
        return self._progress.read(voice_group_id)

    def close(self) -> None:
        pass

"""What crosses between the ingress and the engine replicas, besides audio chunks.

- :class:`VoiceRef`: a voice state put once in the cluster's object store and named by
  the digest of its content, so a replica fetches each voice once and caches it;
- synthesis options as a plain dict (the cancel token stays on each side: cancelling the
  request is what reaches the replica);
- :class:`Failure`: an engine error, sent as the stream's last item and raised again on
  the ingress as the same error class, so users see the same codes in both modes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from breathvoice import errors
from breathvoice.engines.base import CancelToken, SynthesisOptions, VoiceState


@dataclass(frozen=True)
class VoiceRef:
    digest: str
    """Content digest of the voice state: the replica's cache key."""
    state: Any
    """Where the state is in the object store (a ``ray.ObjectRef``)."""


def voice_digest(state: VoiceState) -> str:
    digest = hashlib.sha256(state.engine.encode())
    for name in sorted(state.arrays):
        array = state.arrays[name]
        digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class VoiceRefs:
    """One :class:`VoiceRef` per live voice state, made on first use with ``put``."""

    def __init__(self, put: Any) -> None:
        self._put = put
        self._refs: dict[int, VoiceRef] = {}
        self._lock = threading.Lock()

    def __call__(self, state: VoiceState) -> VoiceRef:
        key = id(state)
        with self._lock:
            ref = self._refs.get(key)
        if ref is not None:
            return ref
        ref = VoiceRef(voice_digest(state), self._put(state))
        with self._lock:
            self._refs[key] = ref
        weakref.finalize(state, self._forget, key)
        return ref

    def _forget(self, key: int) -> None:
        with self._lock:
            self._refs.pop(key, None)


def options_to_wire(options: SynthesisOptions) -> dict[str, Any]:
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if f.name != "cancel"}


def options_from_wire(options: dict[str, Any], cancel: CancelToken) -> SynthesisOptions:
    return SynthesisOptions(**options, cancel=cancel)


@dataclass(frozen=True)
class Failure:
    """An engine error on a replica, as data."""

    error: str
    """Name of a :class:`~breathvoice.errors.BreathVoiceError` class."""
    message: str

    @classmethod
    def of(cls, exc: errors.BreathVoiceError) -> Failure:
        return cls(type(exc).__name__, exc.message)

    def exception(self) -> errors.BreathVoiceError:
        kind = getattr(errors, self.error, None)
        if not (isinstance(kind, type) and issubclass(kind, errors.BreathVoiceError)):
            kind = errors.EngineError
        error = kind.__new__(kind)  # the message as it was: some classes build their own
        errors.BreathVoiceError.__init__(error, self.message)
        return error

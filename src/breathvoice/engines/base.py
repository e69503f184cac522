"""The engine protocol: prepare a voice once, then synthesise text in chunks.

Engines are synchronous and may be slow; the server calls them from worker threads and
checks cancellation between chunks (and, where the engine supports it, inside a chunk).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from breathvoice.pronunciation.lexicon import Lexicon

FloatAudio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CharAlignment:
    """When each character of ``AudioChunk.text`` is spoken, relative to the chunk start."""

    chars: list[str]
    """The characters, in text order (one entry per character of the chunk's text)."""
    char_start_times_ms: list[int]
    """Start of each character, in milliseconds from the start of the chunk."""
    char_durations_ms: list[int]
    """How long each character lasts, in milliseconds."""


@dataclass(frozen=True)
class AudioChunk:
    """A piece of synthesised speech."""

    samples: FloatAudio
    """Mono float32 samples in [-1, 1]."""
    sample_rate: int
    """Samples per second of ``samples``."""
    text: str = ""
    """The part of the input text this chunk speaks."""
    alignment: CharAlignment | None = None
    """Per-character timing of ``text``, when the engine can tell."""

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class CancelToken:
    """Set by the server when nobody wants the audio any more.

    Engines check :attr:`cancelled` between chunks; an engine that can abort a running
    model call registers a callback with :meth:`on_cancel`.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Any] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Any) -> None:
        """Call ``callback()`` on cancel (at once if already cancelled)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def remove(self, callback: Any) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


@dataclass(frozen=True)
class SynthesisOptions:
    speed: float = 1.0
    """Speaking rate, 1.0 = natural; engines clamp to what they support."""
    language: str | None = None
    """ISO code hint ('zh', 'en', 'ja'); None = detect from the text."""
    early_first_chunk: bool = False
    """Cut the first chunk at an early clause boundary, so streaming starts fast."""
    bounded_chunks: bool = False
    """Keep every chunk short in compute (a few seconds of speech, cut at clauses), so
    other live work waits little behind it; the scheduler asks for it on live work."""
    with_alignment: bool = False
    """Fill ``AudioChunk.alignment``."""
    background: bool = False
    """A job line, not live work: the scheduler marks it, so an engine reached through a
    seam (Ray Serve mode's replicas) serves live work first and pauses it for live work."""
    cancel: CancelToken | None = None
    """Stop producing chunks (and abort a running model call) once cancelled."""
    lexicon: Lexicon | None = None
    """Pronunciation rules: an engine reads each match as its rule says, and times the
    sound on the matched characters, so alignment still names the characters sent."""


@dataclass(frozen=True)
class VoiceState:
    """Engine conditioning for one reference clip, computed once and cached on disk."""

    engine: str
    """Name of the engine that made it; another engine must not use it."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    """Tensors the engine conditions on (Kokoro: ``style``, 510x1x256)."""
    info: dict[str, Any] = field(default_factory=dict)
    """JSON-safe facts about it (method, nearest stock voice, similarity, ...)."""

    def save(self, path: Path) -> None:
        """Write to ``path`` (an ``.npz``) via a temporary file and rename."""
        tmp = path.with_name(path.name + ".tmp")
        payload: dict[str, Any] = {
            "__info__": np.array(json.dumps({"engine": self.engine, **self.info})),
            **self.arrays,
        }
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> VoiceState:
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(str(npz["__info__"]))
            arrays = {k: npz[k] for k in npz.files if k != "__info__"}
        engine = info.pop("engine")
        return cls(engine=engine, arrays=arrays, info=info)


@runtime_checkable
class Engine(Protocol):
    """What the server needs of a speech engine."""

    name: str
    sample_rate: int

    def prepare_voice(self, reference: FloatAudio, sample_rate: int) -> VoiceState:
        """Analyse a reference clip once and return the conditioning to speak like it."""
        ...

    def default_voice(self) -> VoiceState:
        """A voice to use when a group has nothing usable (and for the demo group)."""
        ...

    def stock_voices(self) -> dict[str, VoiceState]:
        """Built-in voices by name (may be empty for pure cloning engines)."""
        ...

    def synthesize(
        self, text: str, voice: VoiceState, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        """Speak ``text``; yields chunks in order. Raises EngineError on failure."""
        ...


@runtime_checkable
class WarmsUp(Protocol):
    """An engine whose memory grows on first use and can be grown before serving."""

    def warm_up(self, workers: int, tokens: int) -> float:
        """Run ``workers`` calls of a ``tokens``-long window side by side; the seconds."""
        ...


@runtime_checkable
class MatchesElsewhere(Protocol):
    """An engine whose voice matching runs in another process (a cluster deployment)."""

    def voice_matching(self) -> Any:
        """What the voice library tells about swaps (an ``EnrolmentTracker``), or None."""
        ...


@runtime_checkable
class HearsElsewhere(Protocol):
    """An engine seam whose replicas also run the quality checks' speech recogniser."""

    def speech_recogniser(self) -> Any:
        """The recogniser the checks call (a ``qa.recognise.Transcriber``)."""
        ...

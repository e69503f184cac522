"""Check one take: audio + script text + language → :class:`QAReport`.

This is what the routes, the command line and script jobs call. It is synchronous and
slow (speech recognition): run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import time

import numpy as np

from breathvoice.engines.base import FloatAudio
from breathvoice.errors import InvalidRequest
from breathvoice.qa.detectors import Limits, find_faults
from breathvoice.qa.loudness import measure
from breathvoice.qa.recognise import LANGUAGES, Transcriber
from breathvoice.qa.report import QAReport, Thresholds, loudness_fields, verdict_of
from breathvoice.qa.score import guess_language, normalise, score

__all__ = ["check_take", "take_language"]


def take_language(text: str, language: str | None) -> str:
    """The scored language: ``language`` ('zh-CN' counts as 'zh'), else guessed from text."""
    if language is None or not language.strip():
        return guess_language(text)
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    if primary not in LANGUAGES:
        raise InvalidRequest(f"language must be one of {', '.join(LANGUAGES)}")
    return primary


def check_take(samples: FloatAudio, sample_rate: int, text: str, language: str | None,
               recogniser: Transcriber, *, thresholds: Thresholds | None = None,
               limits: Limits | None = None) -> QAReport:
    """The QA report of ``samples`` (mono float) spoken from the script ``text``."""
    started = time.perf_counter()
    text = text.strip()
    if not text:
        raise InvalidRequest("text must not be empty")
    language = take_language(text, language)
    if not normalise(text, language):
        raise InvalidRequest("text has nothing to say (only punctuation or spaces)")
    samples = np.asarray(samples, np.float32)
    transcript = recogniser.transcribe(samples, sample_rate, language)
    result = score(text, transcript.text, language)
    units = result.units if language != "en" else len(text)
    faults = find_faults(samples, sample_rate, units, language, limits)
    verdict, reasons = verdict_of(result, faults, thresholds or Thresholds())
    return QAReport(
        verdict=verdict,
        reasons=reasons,
        language=language,
        text=text,
        heard=transcript.text,
        metric=result.metric,
        error_rate=round(result.error_rate, 4),
        differences=[{"said": d.said, "expected": d.expected, "description": d.describe()}
                     for d in result.differences],
        faults=[{"kind": f.kind, "severity": f.severity, "message": f.message,
                 "at_seconds": None if f.at_seconds is None else round(f.at_seconds, 2)}
                for f in faults],
        loudness=loudness_fields(measure(samples, sample_rate)),
        duration_seconds=round(len(samples) / sample_rate, 3),
        check_seconds=round(time.perf_counter() - started, 3),
    )

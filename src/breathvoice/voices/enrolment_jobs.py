"""Voice matching of voice groups in the background, one group at a time, at low priority.

A group installed with an ``enrolment`` record in state ``enrolling`` (the importer writes
one when matching is on) gets a job: its main clip (the default emotion's, else the
first) is matched with :func:`breathvoice.voices.enrolment.enrol`, then its other clips
with ``base=`` that state (they only move prosody, which takes no synthesis). The job runs
in a thread of its own at a low CPU priority (niced), so synthesis comes first; until
a clip is matched, lines are spoken with its nearest stock voice (what the importer
computed) and the group's details say ``"method": "stock"``.

Results are kept in the group's folder as soon as they exist: the voice state in
``conditioning/matched/<emotion>.npz``, then ``manifest.json``, each written to a
temporary name and renamed, under the group's lock. A restart never recomputes a kept
result and resumes a group still ``enrolling``. Overwriting or deleting a group cancels
its job under the same lock, so a cancelled job writes nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from breathvoice.audio.decode import decode_audio
from breathvoice.engines.base import CancelToken, Engine, FloatAudio, VoiceState
from breathvoice.errors import InvalidRequest
from breathvoice.settings import Settings
from breathvoice.voices.enrolment import EnrolmentCancelled, enrol
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.manifest import (
    MATCHED_DIR,
    MATCHED_METHODS,
    Conditioning,
    Manifest,
    load_manifest,
    save_manifest,
    utc_now,
)

log = logging.getLogger(__name__)

MATCHABLE_ENGINES = frozenset({"kokoro"})
MAIN_SHARE = 0.9
"""Share of a group's progress for its main clip: the others take almost no time."""
EnrolFunction = Callable[..., VoiceState]


class EnrolmentTracker(Protocol):
    """What :class:`~breathvoice.voices.library.VoiceLibrary` tells about swaps."""

    def submit(self, voice_group_id: str) -> None: ...

    def cancel(self, voice_group_id: str) -> None: ...

    def progress(self, voice_group_id: str) -> float | None: ...

    def close(self) -> None: ...


@dataclass(eq=False)
class _Job:
    group_id: str
    cancel: CancelToken = field(default_factory=CancelToken)
    progress: float = 0.0
    folder_id: int = 0
    """Inode of the group folder the job started on: a swapped-in group has another."""
    main_deadline: tuple[float, float] | None = None
    """(start, budget) while the main clip is matched, to move the bar between reports."""

    def advance(self, fraction: float) -> None:
        self.progress = max(self.progress, min(1.0, fraction))

    def current(self) -> float:
        if self.main_deadline is None:
            return self.progress
        started, budget = self.main_deadline
        guess = MAIN_SHARE * min(0.95, (time.monotonic() - started) / budget)
        return max(self.progress, guess)


def enrolment_jobs_for(library: VoiceLibrary, engine: Engine,
                       settings: Settings) -> EnrolmentJobs | None:
    """The jobs runner attached to ``library``, or None when matching is off or unsupported."""
    if not settings.enrolment or engine.name not in MATCHABLE_ENGINES:
        return None
    return EnrolmentJobs(library, engine, budget_seconds=settings.enrolment_budget_seconds,
                         workers=settings.enrolment_workers, nice=settings.enrolment_nice)


class EnrolmentJobs:
    """Runs the voice matching of ``library``'s groups; attaches itself to the library."""

    def __init__(self, library: VoiceLibrary, engine: Engine, *, budget_seconds: float,
                 workers: int = 1, nice: int = 10, enrol_clip: EnrolFunction | None = None
                 ) -> None:
        self.library = library
        self.engine = engine
        self.budget_seconds = budget_seconds
        self.workers = workers
        self.nice = nice
        self._enrol = enrol_clip or enrol
        self._lock = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._jobs: dict[str, _Job] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        library.enrolment = self

    def start(self, *, resume: bool = True) -> None:
        """Start the worker; with ``resume``, queue every group left ``enrolling``."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="enrolment",
                                                daemon=True)
                self._thread.start()
        if resume:
            self.resume_pending()

    def resume_pending(self) -> list[str]:
        """Queue the groups whose matching was not finished (by an earlier process)."""
        resumed = []
        for group_id in self.library.list_ids():
            with contextlib.suppress(Exception):
                record = self.library.manifest(group_id).enrolment
                if record and record.status == "enrolling" and record.engine == self.engine.name:
                    self.submit(group_id)
                    resumed.append(group_id)
        return resumed

    def submit(self, voice_group_id: str) -> None:
        with self._lock:
            current = self._jobs.get(voice_group_id)
            if self._closed or (current is not None and not current.cancel.cancelled):
                return
            job = _Job(voice_group_id)
            self._jobs[voice_group_id] = job
            self._queue.append(job)
            self._lock.notify_all()

    def cancel(self, voice_group_id: str) -> None:
        with self._lock:
            job = self._jobs.pop(voice_group_id, None)
            self._lock.notify_all()
        if job is not None:
            job.cancel.cancel()

    def progress(self, voice_group_id: str) -> float | None:
        """0..1 while the group's job is queued or running, else None."""
        with self._lock:
            job = self._jobs.get(voice_group_id)
            return None if job is None else job.current()

    def wait(self, voice_group_id: str, timeout: float | None = None) -> bool:
        """True once the group has no job left (finished, failed or cancelled)."""
        with self._lock:
            return self._lock.wait_for(lambda: voice_group_id not in self._jobs, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what is queued or running (it resumes at the next start) and stop."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            self._jobs.clear()
            self._queue.clear()
            self._lock.notify_all()
            thread = self._thread
        for job in jobs:
            job.cancel.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        _lower_priority(self.nice)
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._closed or bool(self._queue))
                if self._closed:
                    return
                job = self._queue.popleft()
            try:
                if not job.cancel.cancelled:
                    self._run(job)
            except Exception as exc:
                if job.cancel.cancelled or isinstance(exc, EnrolmentCancelled):
                    log.info("voice matching of %r cancelled", job.group_id)
                else:
                    log.exception("voice matching of %r failed", job.group_id)
                    with contextlib.suppress(Exception):
                        self._commit(job, {}, status="failed", error="voice matching failed; "
                                     "the nearest stock voices are used")
            finally:
                with self._lock:
                    if self._jobs.get(job.group_id) is job:
                        del self._jobs[job.group_id]
                    self._lock.notify_all()

    def _run(self, job: _Job) -> None:
        with self.library.editing(job.group_id) as folder:
            manifest = load_manifest(folder)
            record = manifest.enrolment
            if record is None or record.status != "enrolling":
                return
            job.folder_id = folder.stat().st_ino
            for leftover in (folder / MATCHED_DIR).glob("*.tmp"):
                leftover.unlink(missing_ok=True)
            finished = {e: s for e in manifest.available_emotions
                        if (s := self._finished(folder, e)) is not None}
        # read outside the lock: if the group is swapped meanwhile, nothing is kept
        clips = {e: decode_audio(folder / manifest.references[e].file)
                 for e in manifest.available_emotions if e not in finished}
        unrecorded = {e: s for e, s in finished.items()
                      if manifest.references[e].conditioning.file != _matched_file(e)}
        main = record.main_emotion if record.main_emotion in finished else next(
            (e for e, s in finished.items() if s.info.get("method") == "matched"), None)
        if main is None:
            matched = self._match_main(job, manifest, clips)
            if matched is None:
                self._commit(job, unrecorded, status="failed",
                             error="no reference clip could be matched; stock voices are used")
                return
            main, finished[main] = matched
            unrecorded[main] = finished[main]
            self._commit(job, unrecorded, main_emotion=main)
            unrecorded = {}
        job.advance(MAIN_SHARE)
        base = finished[main]
        for emotion, (samples, rate) in clips.items():
            if emotion in finished:
                continue
            try:
                unrecorded[emotion] = self._enrol(self.engine, samples, rate, base=base,
                                                  cancel=job.cancel)
            except InvalidRequest as exc:
                log.warning("voice group %r: %r keeps the main clip's voice: %s",
                            job.group_id, emotion, exc.message)
                unrecorded[emotion] = base
        self._commit(job, unrecorded, status="ready", main_emotion=main)

    def _match_main(self, job: _Job, manifest: Manifest, clips: dict[str, tuple[FloatAudio, int]]
                    ) -> tuple[str, VoiceState] | None:
        """The first clip that can be matched (main emotion first) and its matched state."""
        order = sorted(clips, key=lambda e: e != manifest.main_emotion)
        for emotion in order:
            samples, rate = clips[emotion]
            job.main_deadline = (time.monotonic(), self.budget_seconds)
            try:
                state = self._enrol(
                    self.engine, samples, rate,
                    progress=lambda fraction: job.advance(MAIN_SHARE * fraction),
                    cancel=job.cancel, budget_seconds=self.budget_seconds, workers=self.workers,
                )
            except InvalidRequest as exc:
                log.warning("voice group %r: %r cannot be matched: %s",
                            job.group_id, emotion, exc.message)
                continue
            finally:
                job.advance(job.current())
                job.main_deadline = None
            return emotion, state
        return None

    def _finished(self, folder: Path, emotion: str) -> VoiceState | None:
        """The matched state kept for ``emotion``, if a complete one is on disk."""
        try:
            state = VoiceState.load(folder / _matched_file(emotion))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if state.engine != self.engine.name or state.info.get("method") not in MATCHED_METHODS:
            return None
        return state

    def _commit(self, job: _Job, states: dict[str, VoiceState], **changes: Any) -> None:
        """Keep ``states`` and update the record, unless the job was cancelled meanwhile."""
        with self.library.editing(job.group_id) as folder:
            if job.cancel.cancelled or not _is_folder(folder, job.folder_id):
                raise EnrolmentCancelled
            manifest = load_manifest(folder)
            if manifest.enrolment is None:
                raise EnrolmentCancelled
            references = dict(manifest.references)
            (folder / MATCHED_DIR).mkdir(parents=True, exist_ok=True)
            for emotion, state in states.items():
                state.save(folder / _matched_file(emotion))
                references[emotion] = references[emotion].model_copy(update={
                    "conditioning": Conditioning.from_state(state, _matched_file(emotion))})
            record = manifest.enrolment.model_copy(update=changes)
            save_manifest(folder, manifest.model_copy(update={
                "references": references, "enrolment": record, "updated_at": utc_now()}))
        if changes.get("status") == "ready":
            log.info("voice group %r matched", job.group_id)


def _matched_file(emotion: str) -> str:
    return f"{MATCHED_DIR}/{emotion}.npz"


def _is_folder(folder: Path, folder_id: int) -> bool:
    try:
        return folder.stat().st_ino == folder_id
    except OSError:
        return False


def _lower_priority(nice: int) -> None:
    """Nice this thread (and the threads it starts) so synthesis threads come first."""
    if nice > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)

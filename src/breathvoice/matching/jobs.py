"""Voice matching of voice groups in the background, one group at a time, at low priority.

A group installed with an ``enrolment`` record in state ``enrolling`` (the importer writes
one when matching is on) gets a job, run by a
:class:`~breathvoice.matching.groups.GroupMatcher` (which keeps its results in the
group's folder). The jobs run in a thread of their own at a low CPU priority (niced), so
synthesis comes first; until a clip is matched, lines are spoken with its nearest stock
voice (what the importer computed) and the group's details say ``"method": "stock"``.

Matching holds gigabytes of freed buffers that the next match reuses; they are given back
to the system once no job has come for :data:`IDLE_SECONDS`.

A restart resumes every group still ``enrolling``, without recomputing what was kept.
Overwriting or deleting a group cancels its job under the group's lock, so a cancelled job
writes nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from breathvoice.engines.base import Engine
from breathvoice.matching.enrolment import (
    EnrolmentCancelled,
    enrol,
    prepare_gradients,
    uses_gradients,
)
from breathvoice.matching.gradient import gradient_available, return_freed_memory
from breathvoice.matching.groups import EnrolFunction, GroupMatcher, MatchJob
from breathvoice.qa.recognise import Listener
from breathvoice.settings import Settings
from breathvoice.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

MATCHABLE_ENGINES = frozenset({"kokoro"})
IDLE_SECONDS = 5.0
"""How long the worker waits for another job before it gives back the matching's memory."""


def enrolment_jobs_for(library: VoiceLibrary, engine: Engine,
                       settings: Settings) -> EnrolmentJobs | None:
    """The jobs runner attached to ``library``, or None when matching is off or unsupported."""
    if not settings.enrolment or engine.name not in MATCHABLE_ENGINES:
        return None
    if settings.enrolment_gradients and not gradient_available():
        log.warning("enrolment_gradients needs torch (the 'matching' extra): matching without")
    languages = settings.enrolment_guard_languages.split(",") if settings.enrolment_guard else []
    options: dict[str, Any] = {"gradients": True} if settings.enrolment_gradients else {}
    if languages:
        options["guard"] = languages
    clip = functools.partial(enrol, **options) if options else enrol
    steps = uses_gradients(settings.enrolment_gradients, settings.enrolment_budget_seconds)

    def warm() -> None:
        if steps:
            prepare_gradients(engine, settings.enrolment_workers)
        if languages:
            Listener.shared().recogniser.load()

    return EnrolmentJobs(library, engine, budget_seconds=settings.enrolment_budget_seconds,
                         workers=settings.enrolment_workers, nice=settings.enrolment_nice,
                         enrol_clip=clip, warm_up=warm if steps or languages else None,
                         idle=return_freed_memory)


class EnrolmentJobs:
    """Runs the voice matching of ``library``'s groups; attaches itself to the library."""

    def __init__(self, library: VoiceLibrary, engine: Engine, *, budget_seconds: float,
                 workers: int = 1, nice: int = 10, enrol_clip: EnrolFunction | None = None,
                 warm_up: Callable[[], object] | None = None,
                 idle: Callable[[], object] | None = None,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.library = library
        self.engine = engine
        self.nice = nice
        self._warm_up = warm_up
        """Run by the worker before its first job (model set-up the budget should not pay)."""
        self._idle = idle
        """Run once the worker has had nothing to do for ``idle_seconds`` after some work."""
        self._idle_seconds = idle_seconds
        self._matcher = GroupMatcher(library, engine, enrol_clip or enrol,
                                     budget_seconds=budget_seconds, workers=workers)
        self._lock = threading.Condition()
        self._queue: deque[MatchJob] = deque()
        self._jobs: dict[str, MatchJob] = {}
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
            job = MatchJob(voice_group_id)
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
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:
                log.exception("preparing the voice matching's gradient steps failed")
        worked = self._warm_up is not None
        while True:
            with self._lock:
                waiting = self._lock.wait_for(lambda: self._closed or bool(self._queue),
                                              self._idle_seconds if worked else None)
                if self._closed:
                    return
                job = self._queue.popleft() if waiting else None
            if job is None:
                worked = False
                if self._idle is not None:
                    with contextlib.suppress(Exception):
                        self._idle()
                continue
            self._run(job)
            worked = True

    def _run(self, job: MatchJob) -> None:
        try:
            if not job.cancel.cancelled:
                self._matcher.run(job)
        except Exception as exc:
            if job.cancel.cancelled or isinstance(exc, EnrolmentCancelled):
                log.info("voice matching of %r cancelled", job.group_id)
            else:
                log.exception("voice matching of %r failed", job.group_id)
                with contextlib.suppress(Exception):
                    self._matcher.give_up(job, "voice matching failed; "
                                          "the nearest stock voices are used")
        finally:
            with self._lock:
                if self._jobs.get(job.group_id) is job:
                    del self._jobs[job.group_id]
                self._lock.notify_all()


def _lower_priority(nice: int) -> None:
    """Nice this thread (and the threads it starts) so synthesis threads come first."""
    if nice > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)

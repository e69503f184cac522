"""The background runner: claims waiting lines, speaks them, stores each take.

Lines are spoken on the shared :class:`SynthesisScheduler` in its background lane, so
live requests and sockets always go first. Each take is written under its final name
atomically (temporary file, fsync, rename), and only then
committed to the database: a ``kill -9`` at any moment loses at most the lines being
rendered, and a line whose take was committed is never rendered again. On start, lines a
killed process on this host had claimed go back to the queue, so unfinished jobs resume
by themselves; lines of live processes, and of other hosts sharing the database, are left
to their leases (:mod:`breathvoice.jobs.nodes`). While a line renders, its lease is renewed.

A database that goes away for a while (a PostgreSQL restart) only pauses the runner: a
take or a failure is recorded once the database answers again (:mod:`breathvoice.db.retry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from breathvoice.audio.files import encode_file
from breathvoice.db.retry import retrying
from breathvoice.errors import BreathVoiceError
from breathvoice.jobs.bestof import take_variant
from breathvoice.jobs.checking import TakeChecker
from breathvoice.jobs.events import JobEvents
from breathvoice.jobs.models import Claim, JobLine, Take
from breathvoice.jobs.nodes import is_dead_here, node_name
from breathvoice.jobs.store import JobStore
from breathvoice.outputs import PARTIAL_PREFIX, remove_if_abandoned, write_atomically
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.pronunciation.store import Locator
from breathvoice.qa.loudness import normalise
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0
"""How often an idle runner looks for work it was not told about (another node's)."""


class JobRunner:
    def __init__(self, store: JobStore, library: VoiceLibrary, scheduler: SynthesisScheduler,
                 root: Path, *, concurrency: int, lease_seconds: float,
                 events: JobEvents | None = None, checker: TakeChecker | None = None,
                 pronunciation: PronunciationService | None = None) -> None:
        self.store = store
        self.library = library
        self.scheduler = scheduler
        self.root = root
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.events = events or JobEvents()
        self.pronunciation = pronunciation
        self.node = node_name()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._status: dict[str, str] = {}
        self._side: set[asyncio.Task[object]] = set()
        self.checker = checker
        """Checks every take in the background (None: takes are not checked)."""
        if checker is not None:
            checker.on_decided = self._checked

    def recover(self) -> int:
        """At start (blocking): requeue lines that dead processes of this host held, and
        drop partial files their writers left."""
        for leftover in self.root.glob(f"*/*/*/{PARTIAL_PREFIX}*"):
            remove_if_abandoned(leftover)
        return sum(self.store.release_all(owner)
                   for owner in self.store.lease_owners() if is_dead_here(owner))

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="job-runner")
        if self.checker is not None:
            self._spawn(self.checker.resume())
        else:
            self._spawn(asyncio.to_thread(self.store.finish_checking, time.time()))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` beside the runner (held until done, cancelled at close)."""
        task = asyncio.create_task(work)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        tasks: list[asyncio.Task[Any]] = [
            t for t in (self._main, *self._tasks, *self._side) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.checker is not None:
            await self.checker.close()
        await asyncio.to_thread(self.store.release_all, self.node)

    def remove_files(self, job_id: str) -> None:
        """Delete a job's audio (blocking)."""
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    async def publish_status(self, job_id: str) -> None:
        """Tell subscribers the job's status if it changed."""
        try:
            job = await asyncio.to_thread(self.store.get, job_id)
        except (BreathVoiceError, SQLAlchemyError):
            return
        if self._status.get(job_id) != job.status:
            self._status[job_id] = job.status
            self.events.publish(job_id, "status", job.as_json(time.time()))

    async def _run(self) -> None:
        renewing = asyncio.create_task(self._renew())
        try:
            while True:
                room = self.concurrency - len(self._tasks)
                claims: list[Claim] = []
                if room > 0:
                    try:
                        claims = await asyncio.to_thread(
                            self.store.claim, self.node, room, self.lease_seconds, time.time())
                    except Exception:
                        log.exception("claiming job lines failed")
                for claim in claims:
                    task = asyncio.create_task(self._render(claim))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
                    await self.publish_status(claim.job_id)
                if not claims or len(self._tasks) >= self.concurrency:
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
        finally:
            renewing.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._tasks:
                try:
                    await asyncio.to_thread(self.store.renew, self.node, self.lease_seconds,
                                            time.time())
                except Exception:
                    log.exception("renewing job leases failed")

    async def _render(self, claim: Claim) -> None:
        line = claim.line
        try:
            take = await self._speak(claim)
        except BreathVoiceError as exc:
            await self._fail(claim, exc.message)
            return
        except Exception:
            log.exception("job line failed")
            await self._fail(claim, "speech synthesis failed")
            return
        kept = await asyncio.to_thread(retrying, self.store.commit_take, claim, take,
                                       time.time(), self.checker is not None)
        if not kept:  # the lease was lost or the job deleted: this take is not ours to keep
            if not await asyncio.to_thread(self._recorded, claim, take):
                (self.root / take.path).unlink(missing_ok=True)
            return
        if self.checker is not None:
            self.checker.submit(claim.job_id, line, take)
        status = "queued" if take.take < line.takes_wanted else \
            "checking" if self.checker is not None else "completed"
        self.events.publish(claim.job_id, "line", {
            "line_id": line.line_id, "filename": line.filename, "status": status,
            "take": take.take, "duration": take.duration})
        await self.publish_status(claim.job_id)

    def _checked(self, job_id: str, line: JobLine, take: Take, report: dict[str, Any],
                 decided: str | None) -> None:
        """A take's QA report is stored: tell subscribers; a re-roll wakes the runner."""
        self.events.publish(job_id, "qa", {
            "line_id": line.line_id, "filename": line.filename, "take": take.take,
            "verdict": report["verdict"], "reasons": report["reasons"],
            "line_status": decided})
        if decided == "queued":
            self.wake()
        if decided is not None:
            self._spawn(self.publish_status(job_id))

    async def _fail(self, claim: Claim, message: str) -> None:
        if await asyncio.to_thread(retrying, self.store.fail_line, claim, message,
                                   time.time(), self.checker is not None):
            self.events.publish(claim.job_id, "line", {
                "line_id": claim.line.line_id, "filename": claim.line.filename,
                "status": "failed", "error": message})
            await self.publish_status(claim.job_id)

    def _recorded(self, claim: Claim, take: Take) -> bool:
        """Whether a recorded take uses ``take``'s file after all: this commit went through
        just before the connection dropped (the retry found the line settled), or another
        node that took the line over committed the same take."""
        try:
            line = self.store.line(claim.job_id, claim.line.line_id)
        except BreathVoiceError:
            return False
        return any(t.path == take.path for t in line.takes)

    async def _speak(self, claim: Claim) -> Take:
        line = claim.line
        choice = await asyncio.to_thread(self.library.choose, line.voice_group_id,
                                         line.filename, line.emotion)
        lexicon = None
        if self.pronunciation is not None:  # the job's dictionaries, then the group's
            named = [Locator(*pin) for pin in claim.dictionaries]
            lexicon = await asyncio.to_thread(self.pronunciation.lexicon, line.voice_group_id,
                                              named)
        options = replace(take_variant(claim.take).options(line.speed, line.language),
                          lexicon=lexicon)
        chunks = await self.scheduler.collect(("job", claim.job_id), line.text,
                                              choice.voice_state, options, background=True)
        rate = self.scheduler.engine.sample_rate
        samples = (np.concatenate([c.samples for c in chunks]).astype(np.float32)
                   if chunks else np.zeros(0, np.float32))
        if claim.loudness is not None:
            samples = await asyncio.to_thread(normalise, samples, rate, claim.loudness)

        path = f"{claim.job_id}/{claim.take}/{line.voice_group_id}/{line.filename}"

        def store() -> None:
            write_atomically(self.root / path, encode_file(samples, rate, line.filename))

        await asyncio.to_thread(store)
        return Take(take=claim.take, path=path,
                    emotion=choice.emotion, reference_audio=choice.reference_file,
                    duration=round(len(samples) / rate, 3), created_at=time.time())



def job_id() -> str:
    return uuid.uuid4().hex


def jobs_root(data_dir: Path) -> Path:
    root = data_dir / "jobs"
    os.makedirs(root, exist_ok=True)
    return root

"""What the job routes call: submit a checked script, look at jobs, change them.

Every job belongs to the key that submitted it: another synthesize key is told it does
not exist, an admin key sees all. A job's characters are charged once, after the whole
script is checked and before anything is stored; a refused script charges nothing.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from breathvoice.db import database_url, open_database
from breathvoice.errors import InvalidRequest, JobNotFound
from breathvoice.jobs.archive import write_archive
from breathvoice.jobs.checking import TakeChecker
from breathvoice.jobs.models import Job, JobLine
from breathvoice.jobs.runner import JobRunner, job_id, jobs_root
from breathvoice.jobs.script import RawRow, ScriptRules, check_script
from breathvoice.jobs.store import JobStore
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.pronunciation.store import Locator, locators_of
from breathvoice.qa.loudness import LoudnessTarget, loudness_target
from breathvoice.qa.recognise import Transcriber
from breathvoice.settings import Settings
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import VoiceLibrary

Charge = Callable[[str], Any]
"""Charges the caller's quota for text about to be spoken (the one metering path)."""
"""Counts characters against the caller's quota; raises QuotaExceeded if they do not fit."""
MAX_NAME_CHARS = 200


class Caller:
    """Who asks: their key id, and whether they may see every job."""

    def __init__(self, key_id: str, admin: bool) -> None:
        self.key_id = key_id
        self.admin = admin


class JobService:
    def __init__(self, db: Engine, store: JobStore, runner: JobRunner, rules: ScriptRules,
                 max_takes: int) -> None:
        self.db = db
        self.store = store
        self.runner = runner
        self.rules = rules
        self.max_takes = max_takes

    @property
    def root(self) -> Path:
        return self.runner.root

    async def start(self) -> None:
        self.runner.start()

    async def close(self) -> None:
        await self.runner.close()
        self.db.dispose()

    # blocking calls (run them in a worker thread)

    def submit(self, rows: list[RawRow], caller: Caller, charge: Charge, *,
               default_group: str | None, name: Any, takes: Any,
               loudness: Any = None, dictionaries: Any = None) -> Job:
        count = self._takes(takes)
        title = self._name(name)
        target = _loudness(loudness)
        pins = self._dictionaries(dictionaries)
        script = check_script(rows, self.rules, default_group or None)
        charge("".join(line.text * (line.takes or count) for line in script))
        job = self.store.create(job_id(), title, caller.key_id, count, script, time.time(),
                                target, pins)
        self.runner.wake()
        return job

    def _dictionaries(self, value: Any) -> list[tuple[str, str]]:
        """A job's ``pronunciation_dictionary_locators`` (a multipart form sends JSON text),
        each pinned to its version now, so later edits do not change a running job."""
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except ValueError as exc:
                raise InvalidRequest("pronunciation_dictionary_locators must be a JSON list "
                                     "of {\"pronunciation_dictionary_id\", \"version_id\"}"
                                     ) from exc
        locators = locators_of(value)
        pronunciation = self.runner.pronunciation
        if not locators:
            return []
        if pronunciation is None:
            raise InvalidRequest("this server has no pronunciation dictionaries")
        pins = [(locator.dictionary_id,
                 locator.version_id or pronunciation.store.get(locator.dictionary_id).version_id)
                for locator in locators]
        pronunciation.lexicon(None, [Locator(*pin) for pin in pins])  # each one exists
        return pins

    def get(self, job_id: str, caller: Caller) -> Job:
        job = self.store.get(job_id)
        if not caller.admin and job.owner_key_id != caller.key_id:
            raise JobNotFound()
        return job

    def list_jobs(self, caller: Caller) -> list[Job]:
        return self.store.list_jobs(None if caller.admin else caller.key_id)

    def lines(self, job_id: str, caller: Caller, offset: int,
              limit: int) -> tuple[list[JobLine], int]:
        job = self.get(job_id, caller)
        return self.store.lines(job_id, offset, limit), job.counts.total

    def line(self, job_id: str, line_id: str, caller: Caller) -> JobLine:
        self.get(job_id, caller)
        return self.store.line(job_id, line_id)

    def cancel(self, job_id: str, caller: Caller) -> Job:
        self.get(job_id, caller)
        return self.store.cancel(job_id, time.time())

    def redo(self, job_id: str, line_id: str, caller: Caller, charge: Charge) -> JobLine:
        line = self.line(job_id, line_id, caller)
        if line.status in ("queued", "rendering"):
            raise InvalidRequest("this line is still being rendered; wait until it ends")
        charge(line.text)
        redone = self.store.redo(job_id, line_id, time.time())
        self.runner.wake()
        return redone

    def choose(self, job_id: str, line_id: str, take: Any, caller: Caller) -> JobLine:
        if not isinstance(take, int) or isinstance(take, bool):
            raise InvalidRequest("take must be a take number")
        self.get(job_id, caller)
        return self.store.choose(job_id, line_id, take)

    def delete(self, job_id: str, caller: Caller) -> None:
        self.get(job_id, caller)
        self.store.cancel(job_id, time.time())
        self.store.delete(job_id)
        self.runner.remove_files(job_id)

    def take_path(self, job_id: str, line_id: str, take: int, caller: Caller) -> Path:
        line = self.line(job_id, line_id, caller)
        for found in line.takes:
            if found.take == take and (self.root / found.path).is_file():
                return self.root / found.path
        raise JobNotFound(f"line '{line_id[:64]}' has no take {take}")

    def archive(self, job_id: str, caller: Caller, folder: Path) -> tuple[Job, Path]:
        """The job's pack as a zip file in ``folder``; the caller deletes it when sent."""
        job = self.get(job_id, caller)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".zip", delete=False) as spool:
            try:
                write_archive(job, self.store.lines(job_id), self.root, spool)
            except BaseException:
                Path(spool.name).unlink(missing_ok=True)
                raise
        return job, Path(spool.name)

    def _takes(self, value: Any) -> int:
        if value is None or value == "":
            return 1
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = 0
        if isinstance(value, bool | float) or not 1 <= count <= self.max_takes:
            raise InvalidRequest(f"takes must be a whole number from 1 to {self.max_takes}")
        return count

    def _name(self, value: Any) -> str:
        if value is None or value == "":
            return time.strftime("job %Y-%m-%d %H:%M:%S", time.gmtime())
        if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
            raise InvalidRequest(f"name must be text of at most {MAX_NAME_CHARS} characters")
        return value.strip()


def _loudness(value: Any) -> LoudnessTarget | None:
    """A job's ``loudness``: a preset's name, ``{target_lufs, true_peak_db}`` or nothing
    (a multipart form sends the object as JSON text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidRequest("loudness must be a preset name or "
                                 "{\"target_lufs\", \"true_peak_db\"}") from exc
    if isinstance(value, dict):
        unknown = set(value) - {"target_lufs", "true_peak_db"}
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                      for v in value.values())
        if unknown or not numbers:
            raise InvalidRequest("loudness takes numbers target_lufs and true_peak_db")
        return loudness_target({k: float(v) for k, v in value.items()})
    if isinstance(value, str):
        return loudness_target(value)
    raise InvalidRequest("loudness must be a preset name or {\"target_lufs\", "
                         "\"true_peak_db\"}")


def build_job_service(settings: Settings, library: VoiceLibrary,
                      scheduler: SynthesisScheduler,
                      pronunciation: PronunciationService | None = None,
                      recogniser: Transcriber | None = None) -> JobService:
    """Open the database (migrating it) and requeue what a dead process left (blocking).

    With a ``recogniser``, every take is checked in the background.
    """
    db = open_database(database_url(settings))
    store = JobStore(db)
    root = jobs_root(settings.data_dir)
    checker = None if recogniser is None else TakeChecker(store, recogniser, root)
    runner = JobRunner(store, library, scheduler, root,
                       concurrency=settings.job_concurrency,
                       lease_seconds=settings.job_lease_seconds, checker=checker,
                       pronunciation=pronunciation)
    runner.recover()
    rules = ScriptRules(library, settings.max_job_lines, settings.max_text_chars,
                        settings.max_job_takes)
    return JobService(db, store, runner, rules, settings.max_job_takes)

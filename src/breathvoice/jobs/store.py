"""Jobs, lines and takes in the database: every state change is one transaction.

A line moves ``queued → rendering → completed | failed``, or to ``cancelled`` before it
starts; with quality checks on, a rendered line is ``checking`` until its takes' reports
are in. The runner's leases on lines are in :mod:`breathvoice.jobs.leases`; reading rows
and settling a job's status from its lines' (:func:`~breathvoice.jobs.records.settle`) in
:mod:`breathvoice.jobs.records`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update

from breathvoice.db import job_lines, jobs, takes
from breathvoice.errors import InvalidRequest, NotFound
from breathvoice.jobs.leases import LineLeases
from breathvoice.jobs.models import Job, JobLine, Take
from breathvoice.jobs.records import BUSY, OPEN, job_of, lines_with_takes, load_job, settle
from breathvoice.jobs.script import ScriptLine
from breathvoice.jobs.verdicts import decide_line
from breathvoice.qa.loudness import LoudnessTarget

__all__ = ["JobStore"]


class JobStore(LineLeases):
    """What the service and the checker do with jobs; the runner's side is inherited."""

    # reading

    def get(self, job_id: str) -> Job:
        with self.db.connect() as conn:
            return load_job(conn, job_id)

    def list_jobs(self, owner_key_id: str | None = None) -> list[Job]:
        query = select(jobs).order_by(jobs.c.created_at.desc())
        if owner_key_id is not None:
            query = query.where(jobs.c.owner_key_id == owner_key_id)
        with self.db.connect() as conn:
            rows = conn.execute(query).mappings().all()
            return [job_of(conn, row) for row in rows]

    def lines(self, job_id: str, offset: int = 0, limit: int | None = None) -> list[JobLine]:
        query = (select(job_lines).where(job_lines.c.job_id == job_id)
                 .order_by(job_lines.c.position).offset(offset).limit(limit))
        with self.db.connect() as conn:
            return lines_with_takes(conn, job_id, conn.execute(query).mappings().all())

    def line(self, job_id: str, line_id: str) -> JobLine:
        query = select(job_lines).where(job_lines.c.job_id == job_id,
                                        job_lines.c.line_id == line_id)
        with self.db.connect() as conn:
            found = lines_with_takes(conn, job_id, conn.execute(query).mappings().all())
        if not found:
            raise NotFound(f"job has no line '{line_id[:64]}'")
        return found[0]

    # creating, cancelling, deleting

    def create(self, job_id: str, name: str, owner_key_id: str, takes_per_line: int,
               script: Sequence[ScriptLine], now: float,
               loudness: LoudnessTarget | None = None,
               dictionaries: Sequence[tuple[str, str]] = ()) -> Job:
        chars = sum(len(line.text) for line in script)
        with self._write, self.db.begin() as conn:
            conn.execute(insert(jobs).values(
                id=job_id, name=name, owner_key_id=owner_key_id, status="queued",
                takes=takes_per_line, total=len(script), chars=chars, created_at=now,
                loudness_lufs=None if loudness is None else loudness.target_lufs,
                loudness_peak_db=None if loudness is None else loudness.true_peak_db,
                dictionaries=json.dumps([list(pin) for pin in dictionaries])
                if dictionaries else None))
            conn.execute(insert(job_lines), [
                {"job_id": job_id, "position": i, "line_id": line.line_id,
                 "filename": line.filename, "text": line.text,
                 "voice_group_id": line.voice_group_id, "emotion": line.emotion,
                 "speed": line.speed, "language": line.language, "status": "queued",
                 "takes_wanted": line.takes or takes_per_line, "fence": 0, "rerolls": 0}
                for i, line in enumerate(script)])
            return load_job(conn, job_id)

    def cancel(self, job_id: str, now: float) -> Job:
        with self._write, self.db.begin() as conn:
            job = load_job(conn, job_id)
            if job.status in OPEN:
                conn.execute(update(job_lines).where(
                    job_lines.c.job_id == job_id, job_lines.c.status == "queued"
                ).values(status="cancelled"))
                conn.execute(update(jobs).where(jobs.c.id == job_id)
                             .values(status="cancelling"))
                settle(conn, job_id, now)
            return load_job(conn, job_id)

    def delete(self, job_id: str) -> None:
        with self._write, self.db.begin() as conn:
            load_job(conn, job_id)
            conn.execute(delete(takes).where(takes.c.job_id == job_id))
            conn.execute(delete(job_lines).where(job_lines.c.job_id == job_id))
            conn.execute(delete(jobs).where(jobs.c.id == job_id))

    def redo(self, job_id: str, line_id: str, now: float) -> JobLine:
        """Queue one more take of a finished line (the job reopens if it had ended)."""
        line = self.line(job_id, line_id)
        with self._write, self.db.begin() as conn:
            job = load_job(conn, job_id)
            if job.status == "cancelling" or line.status in BUSY:
                raise InvalidRequest("this line is still being rendered or checked; wait "
                                     "until it ends")
            conn.execute(update(job_lines).where(
                job_lines.c.job_id == job_id, job_lines.c.position == line.position
            ).values(status="queued", error=None, takes_wanted=len(line.takes) + 1))
            if job.status not in ("queued", "in_progress"):
                conn.execute(update(jobs).where(jobs.c.id == job_id)
                             .values(status="in_progress", finished_at=None))
        return self.line(job_id, line_id)

    def choose(self, job_id: str, line_id: str, take: int) -> JobLine:
        line = self.line(job_id, line_id)
        if not any(t.take == take for t in line.takes):
            raise InvalidRequest(f"line '{line_id}' has no take {take} "
                                 f"(it has {', '.join(str(t.take) for t in line.takes)})")
        with self._write, self.db.begin() as conn:
            conn.execute(update(job_lines).where(
                job_lines.c.job_id == job_id, job_lines.c.position == line.position
            ).values(chosen_take=take, chosen_by="user"))
        return self.line(job_id, line_id)

    # quality checks

    def record_qa(self, job_id: str, position: int, take: int, report: dict[str, Any],
                  now: float) -> str | None:
        """Store a take's QA report; a line whose takes are all checked is then decided.

        Returns what became of the line: 'completed', 'queued' (re-rolled) or None.
        """
        with self._write, self.db.begin() as conn:
            stored = conn.execute(update(takes).where(
                takes.c.job_id == job_id, takes.c.position == position, takes.c.take == take
            ).values(verdict=report["verdict"], error_rate=report.get("error_rate"),
                     qa=json.dumps(report, ensure_ascii=False))).rowcount
            if not stored:
                return None  # the job was deleted meanwhile
            decided = decide_line(conn, job_id, position)
            settle(conn, job_id, now)
            return decided

    def unchecked(self) -> list[tuple[str, JobLine, Take]]:
        """Every take still waiting for its QA report, with its line, oldest job first."""
        query = (select(takes.c.job_id, takes.c.position, takes.c.take)
                 .join(jobs, jobs.c.id == takes.c.job_id).where(takes.c.verdict.is_(None))
                 .order_by(jobs.c.created_at, takes.c.position, takes.c.take))
        found: list[tuple[str, JobLine, Take]] = []
        with self.db.connect() as conn:
            for job_id, position, number in conn.execute(query).all():
                row = conn.execute(select(job_lines).where(
                    job_lines.c.job_id == job_id, job_lines.c.position == position)).mappings()
                line = lines_with_takes(conn, job_id, row.all())[0]
                found += [(job_id, line, t) for t in line.takes if t.take == number]
        return found

    def finish_checking(self, now: float) -> int:
        """With checks turned off: lines waiting for QA reports are done as they are."""
        with self._write, self.db.begin() as conn:
            job_ids = conn.execute(select(job_lines.c.job_id).distinct().where(
                job_lines.c.status == "checking")).scalars().all()
            count = conn.execute(update(job_lines).where(job_lines.c.status == "checking")
                                 .values(status="completed")).rowcount
            for job_id in job_ids:
                settle(conn, job_id, now)
            return count

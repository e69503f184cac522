"""Jobs, lines and takes read from their rows, and a job's status settled from its lines'.

Every function here runs inside a connection or transaction of
:class:`~breathvoice.jobs.store.JobStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from breathvoice.db import job_lines, jobs, takes
from breathvoice.errors import JobNotFound
from breathvoice.jobs.models import Counts, Job, JobLine, Take
from breathvoice.jobs.verdicts import qa_counts
from breathvoice.qa.loudness import LoudnessTarget

__all__ = ["BUSY", "OPEN", "job_of", "lines_with_takes", "load_job", "loudness_of", "settle"]

OPEN = ("queued", "in_progress", "cancelling")
BUSY = ("queued", "rendering", "checking")
"""A line in one of these states is not finished: its job is not either."""


def load_job(conn: Connection, job_id: str) -> Job:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise JobNotFound()
    return job_of(conn, row)


def job_of(conn: Connection, row: Any) -> Job:
    """The job of a ``jobs`` row, with its line counts and QA verdict counts."""
    job_id = row["id"]
    return Job(job_id=job_id, name=row["name"], owner_key_id=row["owner_key_id"],
               status=row["status"], takes=row["takes"], chars=row["chars"],
               created_at=row["created_at"], started_at=row["started_at"],
               finished_at=row["finished_at"], counts=_counts(conn, job_id),
               loudness=loudness_of(row), qa_counts=qa_counts(conn, job_id))


def loudness_of(row: Any) -> LoudnessTarget | None:
    """The loudness target of a row that has the job's ``loudness_*`` columns."""
    if row["loudness_lufs"] is None:
        return None
    return LoudnessTarget(row["loudness_lufs"], row["loudness_peak_db"])


def lines_with_takes(conn: Connection, job_id: str, rows: Sequence[Any]) -> list[JobLine]:
    """The lines of ``job_lines`` rows of one job, each with its takes in order."""
    positions = [row["position"] for row in rows]
    by_line: dict[int, list[Take]] = {p: [] for p in positions}
    if positions:
        found = conn.execute(select(takes).where(
            takes.c.job_id == job_id, takes.c.position.in_(positions)
        ).order_by(takes.c.position, takes.c.take)).mappings().all()
        for t in found:
            by_line[t["position"]].append(Take(
                take=t["take"], path=t["path"], emotion=t["emotion"],
                reference_audio=t["reference_audio"], duration=t["duration"],
                created_at=t["created_at"], qa=json.loads(t["qa"]) if t["qa"] else None))
    return [JobLine(
        position=row["position"], line_id=row["line_id"], filename=row["filename"],
        text=row["text"], voice_group_id=row["voice_group_id"], emotion=row["emotion"],
        speed=row["speed"], language=row["language"], status=row["status"],
        error=row["error"], takes_wanted=row["takes_wanted"],
        chosen_take=row["chosen_take"], takes=tuple(by_line[row["position"]]),
        chosen_by=row["chosen_by"],
    ) for row in rows]


def settle(conn: Connection, job_id: str, now: float) -> None:
    """Set the job's status from its lines' once none waits or renders."""
    status = conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
    counts = _status_counts(conn, job_id)
    if status not in OPEN or any(counts.get(busy) for busy in BUSY):
        return
    if status == "cancelling" or not (counts.get("completed") or counts.get("failed")):
        final = "cancelled"
    else:
        final = "completed" if counts.get("completed") else "failed"
    conn.execute(update(jobs).where(jobs.c.id == job_id)
                 .values(status=final, finished_at=now))


def _status_counts(conn: Connection, job_id: str) -> dict[str, int]:
    rows = conn.execute(select(job_lines.c.status, func.count()).where(
        job_lines.c.job_id == job_id).group_by(job_lines.c.status)).all()
    return {status: count for status, count in rows}


def _counts(conn: Connection, job_id: str) -> Counts:
    by_status = _status_counts(conn, job_id)
    return Counts(total=sum(by_status.values()), completed=by_status.get("completed", 0),
                  failed=by_status.get("failed", 0), cancelled=by_status.get("cancelled", 0))

"""The verdicts of a job's takes, in the database: totals, and deciding a checked line.

Both run inside a transaction of :class:`~breathvoice.jobs.store.JobStore`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from breathvoice.db import job_lines, jobs, takes
from breathvoice.jobs.bestof import best_take

__all__ = ["decide_line", "qa_counts"]


def qa_counts(conn: Connection, job_id: str) -> dict[str, int]:
    """Verdicts of the chosen takes (the chosen one, else the newest) of a job's lines."""
    newest = (select(takes.c.position, func.max(takes.c.take).label("take"))
              .where(takes.c.job_id == job_id).group_by(takes.c.position).subquery())
    chosen = (select(job_lines.c.position,
                     func.coalesce(job_lines.c.chosen_take, newest.c.take).label("take"))
              .join(newest, newest.c.position == job_lines.c.position)
              .where(job_lines.c.job_id == job_id).subquery())
    rows = conn.execute(select(takes.c.verdict, func.count()).join(chosen, and_(
        chosen.c.position == takes.c.position, chosen.c.take == takes.c.take,
    )).where(takes.c.job_id == job_id).group_by(takes.c.verdict)).all()
    return {verdict or "pending": count for verdict, count in rows}


def decide_line(conn: Connection, job_id: str, position: int) -> str | None:
    """A line that waits for its checks, once every take is checked: re-roll or choose.

    When every take failed and the job still runs, one more take is queued: a re-roll for
    a failed take not re-rolled yet (so at most one per take the line asked for; a re-roll
    that fails is not re-rolled again). Otherwise
    the best take is chosen, unless the user chose one, and the line is completed.
    """
    line = conn.execute(select(job_lines).where(
        job_lines.c.job_id == job_id, job_lines.c.position == position)).mappings().first()
    if line is None or line["status"] != "checking":
        return None
    found = conn.execute(select(takes.c.take, takes.c.verdict, takes.c.error_rate).where(
        takes.c.job_id == job_id, takes.c.position == position)).all()
    if any(verdict is None for _, verdict, _ in found):
        return None  # a check is still pending
    key = (job_lines.c.job_id == job_id, job_lines.c.position == position)
    rerolls = line["rerolls"] or 0
    job_status = conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
    if (found and all(verdict == "fail" for _, verdict, _ in found)
            and 2 * rerolls < len(found)
            and job_status in ("queued", "in_progress")):
        conn.execute(update(job_lines).where(*key).values(
            status="queued", rerolls=rerolls + 1, takes_wanted=len(found) + 1))
        return "queued"
    best = best_take((number, verdict, rate) for number, verdict, rate in found)
    values: dict[str, Any] = {"status": "completed"}
    if best is not None and line["chosen_by"] != "user":
        values.update(chosen_take=best, chosen_by="auto")
    conn.execute(update(job_lines).where(*key).values(**values))
    return "completed"

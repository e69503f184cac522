"""The runner's side of the job store: leasing lines, and committing what was rendered.

A runner *claims* a line: it takes a lease (``lease_owner``, ``lease_until``) and bumps
the line's ``fence``. Its take is committed only if the fence is still the one it got, so
a runner that lost its lease (it stalled, another node took the line over) cannot
overwrite newer work.
"""

from __future__ import annotations

import json
import threading

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.engine import Connection

from breathvoice.db import job_lines, jobs, takes
from breathvoice.jobs.models import Claim, Take
from breathvoice.jobs.records import lines_with_takes, loudness_of, settle
from breathvoice.jobs.verdicts import decide_line

__all__ = ["LineLeases"]


class LineLeases:
    """Leases on job lines; :class:`~breathvoice.jobs.store.JobStore` builds on it."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._write = threading.Lock()
        """SQLite has one writer; taking turns here avoids lock-upgrade failures."""

    def claim(self, node: str, limit: int, lease_seconds: float, now: float) -> list[Claim]:
        """Lease up to ``limit`` lines that wait (or whose lease ran out), oldest job first."""
        free = or_(job_lines.c.status == "queued",
                   and_(job_lines.c.status == "rendering", job_lines.c.lease_until < now))
        query = (select(job_lines, jobs.c.loudness_lufs, jobs.c.loudness_peak_db,
                        jobs.c.dictionaries)
                 .join(jobs, jobs.c.id == job_lines.c.job_id)
                 .where(jobs.c.status.in_(("queued", "in_progress")), free)
                 .order_by(jobs.c.created_at, job_lines.c.position).limit(limit))
        claims: list[Claim] = []
        with self._write, self.db.begin() as conn:
            for row in conn.execute(query).mappings().all():
                key = (job_lines.c.job_id == row["job_id"],
                       job_lines.c.position == row["position"])
                taken = conn.execute(update(job_lines).where(
                    *key, job_lines.c.fence == row["fence"]
                ).values(status="rendering", lease_owner=node, lease_until=now + lease_seconds,
                         fence=row["fence"] + 1)).rowcount
                if not taken:
                    continue
                line = lines_with_takes(conn, row["job_id"], [row])[0]
                pins = tuple((str(d), str(v)) for d, v in json.loads(row["dictionaries"] or "[]"))
                claims.append(Claim(row["job_id"], line, len(line.takes) + 1, row["fence"] + 1,
                                    loudness_of(row), pins))
                conn.execute(update(jobs).where(jobs.c.id == row["job_id"],
                                                jobs.c.status == "queued")
                             .values(status="in_progress", started_at=now))
        return claims

    def renew(self, node: str, lease_seconds: float, now: float) -> None:
        with self._write, self.db.begin() as conn:
            conn.execute(update(job_lines).where(
                job_lines.c.lease_owner == node, job_lines.c.status == "rendering"
            ).values(lease_until=now + lease_seconds))

    def release_all(self, node: str | None = None) -> int:
        """Put lines being rendered back in the queue (this node's, or all at a lone start)."""
        query = update(job_lines).where(job_lines.c.status == "rendering")
        if node is not None:
            query = query.where(job_lines.c.lease_owner == node)
        with self._write, self.db.begin() as conn:
            return conn.execute(query.values(status="queued", lease_owner=None,
                                             lease_until=None)).rowcount

    def lease_owners(self) -> set[str]:
        """The nodes holding a line's lease now (expired or not)."""
        with self.db.connect() as conn:
            return set(conn.execute(select(job_lines.c.lease_owner).distinct().where(
                job_lines.c.status == "rendering", job_lines.c.lease_owner.is_not(None)
            )).scalars())

    def commit_take(self, claim: Claim, take: Take, now: float, checking: bool = False
                    ) -> bool:
        """Record a rendered take; False if the lease was lost (the take is not kept).

        With ``checking``, a line whose takes are all made waits for their QA reports.
        """
        with self._write, self.db.begin() as conn:
            if not _still_held(conn, claim):
                return False
            conn.execute(insert(takes).values(
                job_id=claim.job_id, position=claim.line.position, take=take.take,
                path=take.path, emotion=take.emotion, reference_audio=take.reference_audio,
                duration=take.duration, created_at=take.created_at))
            done = take.take >= claim.line.takes_wanted
            ended = "checking" if checking else "completed"
            _end_lease(conn, claim, ended if done else "queued", None)
            settle(conn, claim.job_id, now)
            return True

    def fail_line(self, claim: Claim, error: str, now: float, checking: bool = False
                  ) -> bool:
        with self._write, self.db.begin() as conn:
            if not _still_held(conn, claim):
                return False
            status = ("checking" if checking else "completed") if claim.line.takes \
                else "failed"
            _end_lease(conn, claim, status, error)
            decide_line(conn, claim.job_id, claim.line.position)
            settle(conn, claim.job_id, now)
            return True


def _still_held(conn: Connection, claim: Claim) -> bool:
    fence = conn.execute(select(job_lines.c.fence).where(
        job_lines.c.job_id == claim.job_id, job_lines.c.position == claim.line.position,
        job_lines.c.status == "rendering")).scalar()
    return fence == claim.fence


def _end_lease(conn: Connection, claim: Claim, status: str, error: str | None) -> None:
    conn.execute(update(job_lines).where(
        job_lines.c.job_id == claim.job_id, job_lines.c.position == claim.line.position
    ).values(status=status, error=error, lease_owner=None, lease_until=None))

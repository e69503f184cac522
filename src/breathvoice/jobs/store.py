"""Jobs, lines and takes in the database: every state change is one transaction.

A line moves ``queued → rendering → completed | failed``, or to ``cancelled`` before it
starts. A runner *claims* a line: it takes a lease (``lease_owner``, ``lease_until``) and
bumps the line's ``fence``. Its take is committed only if the fence is still the one it
got, so a runner that lost its lease (it stalled, another node took the line over) cannot
overwrite newer work. A job's own status follows from its lines' (:meth:`_settle`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from breathvoice.db import job_lines, jobs, takes
from breathvoice.errors import InvalidRequest, JobNotFound, NotFound
from breathvoice.jobs.models import Claim, Counts, Job, JobLine, Take
from breathvoice.jobs.script import ScriptLine
from breathvoice.jobs.verdicts import decide_line, qa_counts
from breathvoice.qa.loudness import LoudnessTarget

_OPEN = ("queued", "in_progress", "cancelling")
_BUSY = ("queued", "rendering", "checking")
"""A line in one of these states is not finished: its job is not either."""


class JobStore:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._write = threading.Lock()
        """SQLite has one writer; taking turns here avoids lock-upgrade failures."""

    # reading

    def get(self, job_id: str) -> Job:
        with self.db.connect() as conn:
            return self._job(conn, job_id)

    def list_jobs(self, owner_key_id: str | None = None) -> list[Job]:
        query = select(jobs).order_by(jobs.c.created_at.desc())
        if owner_key_id is not None:
            query = query.where(jobs.c.owner_key_id == owner_key_id)
        with self.db.connect() as conn:
            rows = conn.execute(query).mappings().all()
            return [_job_of(row, self._counts(conn, row["id"]), qa_counts(conn, row["id"]))
                    for row in rows]

    def lines(self, job_id: str, offset: int = 0, limit: int | None = None) -> list[JobLine]:
        query = (select(job_lines).where(job_lines.c.job_id == job_id)
                 .order_by(job_lines.c.position).offset(offset).limit(limit))
        with self.db.connect() as conn:
            return self._with_takes(conn, job_id, conn.execute(query).mappings().all())

    def line(self, job_id: str, line_id: str) -> JobLine:
        query = select(job_lines).where(job_lines.c.job_id == job_id,
                                        job_lines.c.line_id == line_id)
        with self.db.connect() as conn:
            found = self._with_takes(conn, job_id, conn.execute(query).mappings().all())
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
            return self._job(conn, job_id)

    def cancel(self, job_id: str, now: float) -> Job:
        with self._write, self.db.begin() as conn:
            job = self._job(conn, job_id)
            if job.status in _OPEN:
                conn.execute(update(job_lines).where(
                    job_lines.c.job_id == job_id, job_lines.c.status == "queued"
                ).values(status="cancelled"))
                conn.execute(update(jobs).where(jobs.c.id == job_id)
                             .values(status="cancelling"))
                self._settle(conn, job_id, now)
            return self._job(conn, job_id)

    def delete(self, job_id: str) -> None:
        with self._write, self.db.begin() as conn:
            self._job(conn, job_id)
            conn.execute(delete(takes).where(takes.c.job_id == job_id))
            conn.execute(delete(job_lines).where(job_lines.c.job_id == job_id))
            conn.execute(delete(jobs).where(jobs.c.id == job_id))

    def redo(self, job_id: str, line_id: str, now: float) -> JobLine:
        """Queue one more take of a finished line (the job reopens if it had ended)."""
        line = self.line(job_id, line_id)
        with self._write, self.db.begin() as conn:
            job = self._job(conn, job_id)
            if job.status == "cancelling" or line.status in _BUSY:
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

    # the runner's side

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
                line = self._with_takes(conn, row["job_id"], [row])[0]
                pins = tuple((str(d), str(v)) for d, v in json.loads(row["dictionaries"] or "[]"))
                claims.append(Claim(row["job_id"], line, len(line.takes) + 1, row["fence"] + 1,
                                    _loudness(row), pins))
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
            if not self._still_held(conn, claim):
                return False
            conn.execute(insert(takes).values(
                job_id=claim.job_id, position=claim.line.position, take=take.take,
                path=take.path, emotion=take.emotion, reference_audio=take.reference_audio,
                duration=take.duration, created_at=take.created_at))
            done = take.take >= claim.line.takes_wanted
            ended = "checking" if checking else "completed"
            self._end_lease(conn, claim, ended if done else "queued", None)
            self._settle(conn, claim.job_id, now)
            return True

    def fail_line(self, claim: Claim, error: str, now: float, checking: bool = False
                  ) -> bool:
        with self._write, self.db.begin() as conn:
            if not self._still_held(conn, claim):
                return False
            status = ("checking" if checking else "completed") if claim.line.takes \
                else "failed"
            self._end_lease(conn, claim, status, error)
            decide_line(conn, claim.job_id, claim.line.position)
            self._settle(conn, claim.job_id, now)
            return True

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
            self._settle(conn, job_id, now)
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
                line = self._with_takes(conn, job_id, row.all())[0]
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
                self._settle(conn, job_id, now)
            return count

    # helpers

    def _still_held(self, conn: Connection, claim: Claim) -> bool:
        fence = conn.execute(select(job_lines.c.fence).where(
            job_lines.c.job_id == claim.job_id, job_lines.c.position == claim.line.position,
            job_lines.c.status == "rendering")).scalar()
        return fence == claim.fence

    def _end_lease(self, conn: Connection, claim: Claim, status: str,
                   error: str | None) -> None:
        conn.execute(update(job_lines).where(
            job_lines.c.job_id == claim.job_id, job_lines.c.position == claim.line.position
        ).values(status=status, error=error, lease_owner=None, lease_until=None))

    def _settle(self, conn: Connection, job_id: str, now: float) -> None:
        """Set the job's status from its lines' once none waits or renders."""
        status = conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
        counts = self._status_counts(conn, job_id)
        if status not in _OPEN or any(counts.get(busy) for busy in _BUSY):
            return
        if status == "cancelling" or not (counts.get("completed") or counts.get("failed")):
            final = "cancelled"
        else:
            final = "completed" if counts.get("completed") else "failed"
        conn.execute(update(jobs).where(jobs.c.id == job_id)
                     .values(status=final, finished_at=now))

    def _status_counts(self, conn: Connection, job_id: str) -> dict[str, int]:
        rows = conn.execute(select(job_lines.c.status, func.count()).where(
            job_lines.c.job_id == job_id).group_by(job_lines.c.status)).all()
        return {status: count for status, count in rows}

    def _counts(self, conn: Connection, job_id: str) -> Counts:
        by_status = self._status_counts(conn, job_id)
        return Counts(total=sum(by_status.values()), completed=by_status.get("completed", 0),
                      failed=by_status.get("failed", 0),
                      cancelled=by_status.get("cancelled", 0))

    def _job(self, conn: Connection, job_id: str) -> Job:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise JobNotFound()
        return _job_of(row, self._counts(conn, job_id), qa_counts(conn, job_id))

    def _with_takes(self, conn: Connection, job_id: str,
                    rows: Sequence[Any]) -> list[JobLine]:
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


def _loudness(row: Any) -> LoudnessTarget | None:
    if row["loudness_lufs"] is None:
        return None
    return LoudnessTarget(row["loudness_lufs"], row["loudness_peak_db"])


def _job_of(row: Any, counts: Counts, verdicts: dict[str, int]) -> Job:
    return Job(job_id=row["id"], name=row["name"], owner_key_id=row["owner_key_id"],
               status=row["status"], takes=row["takes"], chars=row["chars"],
               created_at=row["created_at"], started_at=row["started_at"],
               finished_at=row["finished_at"], counts=counts, loudness=_loudness(row),
               qa_counts=verdicts)

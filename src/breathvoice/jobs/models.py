"""What a job looks like to its owner: plain dataclasses, built from rows by the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from breathvoice.qa.loudness import LoudnessTarget

JobStatus = Literal["queued", "in_progress", "completed", "failed", "cancelling", "cancelled"]
LineStatus = Literal["queued", "rendering", "checking", "completed", "failed", "cancelled"]
"""``checking``: every take is rendered and the line waits for their QA reports."""
ENDED: tuple[JobStatus, ...] = ("completed", "failed", "cancelled")
QA_VERDICTS = ("ok", "warn", "fail", "pending")
"""A job in one of these states runs no more (until a redo reopens it)."""


@dataclass(frozen=True)
class Take:
    take: int
    path: str
    """Relative to the jobs folder: ``<job_id>/<take>/<voice_group_id>/<filename>``."""
    emotion: str
    reference_audio: str
    duration: float
    created_at: float
    qa: dict[str, Any] | None = None
    """The take's QA report (``QAReport.to_dict()``); None while the check is pending."""


@dataclass(frozen=True)
class JobLine:
    position: int
    line_id: str
    filename: str
    text: str
    voice_group_id: str
    emotion: str
    speed: float
    language: str | None
    status: LineStatus
    error: str | None
    takes_wanted: int
    chosen_take: int | None
    takes: tuple[Take, ...] = ()
    chosen_by: str | None = None
    """'user' (``choose``), 'auto' (the best verdict of the takes) or None (the newest)."""

    @property
    def chosen(self) -> Take | None:
        """The take the archive uses: the chosen one, else the newest."""
        for take in self.takes:
            if take.take == self.chosen_take:
                return take
        return self.takes[-1] if self.takes else None


@dataclass(frozen=True)
class Counts:
    total: int
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def ended(self) -> int:
        return self.completed + self.failed + self.cancelled


@dataclass(frozen=True)
class Job:
    job_id: str
    name: str
    owner_key_id: str
    status: JobStatus
    takes: int
    chars: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    counts: Counts = field(default_factory=lambda: Counts(0))
    loudness: LoudnessTarget | None = None
    """Delivery loudness every take is normalised to; None keeps takes as made."""
    qa_counts: dict[str, int] = field(default_factory=dict)
    """Verdicts of the chosen takes: ``ok``, ``warn``, ``fail``, ``pending``."""

    def progress(self) -> float:
        return round(self.counts.ended / self.counts.total, 4) if self.counts.total else 1.0

    def eta_seconds(self, now: float) -> float | None:
        """Time left at the pace so far; None before the first line ends or after the end."""
        if self.status in ENDED or self.started_at is None or not self.counts.ended:
            return None
        pace = (now - self.started_at) / self.counts.ended
        return round(pace * (self.counts.total - self.counts.ended), 1)

    def verdict_counts(self) -> dict[str, int]:
        """``qa_counts``: every verdict, 0 when none."""
        return {verdict: self.qa_counts.get(verdict, 0) for verdict in QA_VERDICTS}

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "name": self.name, "status": self.status,
            "request_counts": {"total": self.counts.total, "completed": self.counts.completed,
                               "failed": self.counts.failed,
                               "cancelled": self.counts.cancelled},
            "progress": self.progress(), "eta_seconds": self.eta_seconds(now),
            "takes": self.takes, "characters": self.chars,
            "loudness": None if self.loudness is None else {
                "target_lufs": self.loudness.target_lufs,
                "true_peak_db": self.loudness.true_peak_db},
            "qa_counts": self.verdict_counts(),
            "created_at": self.created_at, "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class Claim:
    """A line a runner holds: render it, then commit with the same ``fence``."""

    job_id: str
    line: JobLine
    take: int
    fence: int
    loudness: LoudnessTarget | None = None
    dictionaries: tuple[tuple[str, str], ...] = ()
    """The job's own pronunciation dictionaries (id, version), applied before the group's."""

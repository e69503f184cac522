"""Voice-matching progress on the shared data folder, for Ray Serve mode.

Groups are matched on the voice-matching deployment, but their progress bar is asked of
whichever ingress replica a request reaches, on any node. So the matching replica
publishes the progress of every group it is matching in a small file per group,
``<data>/matching-progress/<group>.json``, refreshed every :data:`PUBLISH_SECONDS`, and an
ingress reads it. A file not refreshed for :data:`STALE_SECONDS` (its matcher died) reads
as no progress; the group's manifest still says ``enrolling`` until a match is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from breathvoice.settings import Settings
from breathvoice.voices.manifest import is_valid_group_id

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 0.5
STALE_SECONDS = 30.0
FOLDER = "matching-progress"


class MatchingJobs(Protocol):
    """What is published (:class:`~breathvoice.matching.jobs.EnrolmentJobs`)."""

    def submit(self, voice_group_id: str) -> None: ...

    def cancel(self, voice_group_id: str) -> None: ...

    def progress(self, voice_group_id: str) -> float | None: ...


class ProgressBoard:
    """One progress file per group being matched, in ``folder``."""

    def __init__(self, folder: Path, stale_seconds: float = STALE_SECONDS) -> None:
        self.folder = folder
        self.stale_seconds = stale_seconds

    @classmethod
    def of(cls, settings: Settings) -> ProgressBoard:
        return cls(settings.data_dir / FOLDER)

    def _path(self, voice_group_id: str) -> Path:
        """The group's file; a name that is no group id (``../x``) names no file."""
        if not is_valid_group_id(voice_group_id):
            raise ValueError("not a voice group id")
        return self.folder / f"{voice_group_id}.json"

    def write(self, voice_group_id: str, fraction: float) -> None:
        """Publish ``fraction`` (0..1) for the group (atomically: readers never see half)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(voice_group_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"progress": round(fraction, 4)}))
        tmp.replace(path)

    def read(self, voice_group_id: str) -> float | None:
        """The group's published progress, or None if none is published or it is stale."""
        try:
            path = self._path(voice_group_id)
            if time.time() - path.stat().st_mtime > self.stale_seconds:
                return None
            fraction = json.loads(path.read_text())["progress"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return float(fraction) if isinstance(fraction, int | float) else None

    def clear(self, voice_group_id: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._path(voice_group_id).unlink()


class ProgressPublisher:
    """Runs ``jobs`` and keeps ``board`` up to date with the groups they are matching."""

    def __init__(self, jobs: MatchingJobs, board: ProgressBoard,
                 period: float = PUBLISH_SECONDS) -> None:
        self.jobs = jobs
        self.board = board
        self.period = period
        self._watched: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="matching-progress",
                                        daemon=True)

    def start(self, resumed: Iterable[str] = ()) -> None:
        """Publish from now on, starting with the groups ``jobs`` resumed."""
        for group_id in resumed:
            self._watch(group_id)
        self._thread.start()

    def submit(self, voice_group_id: str) -> None:
        self.jobs.submit(voice_group_id)
        self._watch(voice_group_id)

    def cancel(self, voice_group_id: str) -> None:
        self.jobs.cancel(voice_group_id)
        with self._lock:
            self._watched.discard(voice_group_id)
        self.board.clear(voice_group_id)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _watch(self, voice_group_id: str) -> None:
        with self._lock:
            self._watched.add(voice_group_id)
        self._publish(voice_group_id)

    def _publish(self, voice_group_id: str) -> None:
        fraction = self.jobs.progress(voice_group_id)
        try:
            if fraction is None:
                with self._lock:
                    self._watched.discard(voice_group_id)
                self.board.clear(voice_group_id)
            else:
                self.board.write(voice_group_id, fraction)
        except OSError:
            log.warning("publishing the matching progress of %r failed", voice_group_id)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with self._lock:
                watched = sorted(self._watched)
            for group_id in watched:
                self._publish(group_id)

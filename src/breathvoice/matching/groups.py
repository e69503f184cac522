"""The voice matching of one voice group, and its results kept in the group's folder.

The main clip (the default emotion's, else the first that can be matched) is matched with
the enrol function (:func:`breathvoice.matching.enrolment.enrol`); the other clips then with
``base=`` that state: they only move prosody, which takes no synthesis.

Results are kept as soon as they exist: the voice state in
``conditioning/matched/<emotion>.npz``, then ``manifest.json``, each written to a
temporary name and renamed, under the group's lock. A later run never recomputes a kept
result. A job whose group was cancelled, or swapped for another folder, writes nothing
more.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breathvoice.audio.decode import decode_audio
from breathvoice.engines.base import CancelToken, Engine, FloatAudio, VoiceState
from breathvoice.errors import InvalidRequest
from breathvoice.matching.enrolment import EnrolmentCancelled
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.manifest import Manifest, load_manifest, save_manifest, utc_now
from breathvoice.voices.manifest_records import MATCHED_DIR, MATCHED_METHODS, Conditioning

log = logging.getLogger(__name__)

MAIN_SHARE = 0.9
"""Share of a group's progress for its main clip: the others take almost no time."""
EnrolFunction = Callable[..., VoiceState]


@dataclass(eq=False)
class MatchJob:
    """One group's matching, queued or running: how far it is, and how to stop it."""

    group_id: str
    cancel: CancelToken = field(default_factory=CancelToken)
    progress: float = 0.0
    folder_id: int = 0
    """Inode of the group folder the job started on: a swapped-in group has another."""
    main_deadline: tuple[float, float] | None = None
    """(start, budget) while the main clip is matched, to move the bar between reports."""

    def advance(self, fraction: float) -> None:
        self.progress = max(self.progress, min(1.0, fraction))

    def current(self) -> float:
        if self.main_deadline is None:
            return self.progress
        started, budget = self.main_deadline
        guess = MAIN_SHARE * min(0.95, (time.monotonic() - started) / budget)
        return max(self.progress, guess)


class GroupMatcher:
    """Runs one :class:`MatchJob` at a time on the caller's thread."""

    def __init__(self, library: VoiceLibrary, engine: Engine, enrol_clip: EnrolFunction, *,
                 budget_seconds: float, workers: int) -> None:
        self.library = library
        self.engine = engine
        self.budget_seconds = budget_seconds
        self.workers = workers
        self._enrol = enrol_clip

    def run(self, job: MatchJob) -> None:
        """Match what is left of the group; raises EnrolmentCancelled once it is cancelled."""
        with self.library.editing(job.group_id) as folder:
            manifest = load_manifest(folder)
            record = manifest.enrolment
            if record is None or record.status != "enrolling":
                return
            job.folder_id = folder.stat().st_ino
            for leftover in (folder / MATCHED_DIR).glob("*.tmp"):
                leftover.unlink(missing_ok=True)
            finished = {e: s for e in manifest.available_emotions
                        if (s := self._finished(folder, e)) is not None}
        # read outside the lock: if the group is swapped meanwhile, nothing is kept
        clips = {e: decode_audio(folder / manifest.references[e].file)
                 for e in manifest.available_emotions if e not in finished}
        unrecorded = {e: s for e, s in finished.items()
                      if manifest.references[e].conditioning.file != _matched_file(e)}
        main = record.main_emotion if record.main_emotion in finished else next(
            (e for e, s in finished.items() if s.info.get("method") == "matched"), None)
        if main is None:
            matched = self._match_main(job, manifest, clips)
            if matched is None:
                self._commit(job, unrecorded, status="failed",
                             error="no reference clip could be matched; stock voices are used")
                return
            main, finished[main] = matched
            unrecorded[main] = finished[main]
            self._commit(job, unrecorded, main_emotion=main)
            unrecorded = {}
        job.advance(MAIN_SHARE)
        base = finished[main]
        for emotion, (samples, rate) in clips.items():
            if emotion in finished:
                continue
            try:
                unrecorded[emotion] = self._enrol(self.engine, samples, rate, base=base,
                                                  cancel=job.cancel)
            except InvalidRequest as exc:
                log.warning("voice group %r: %r keeps the main clip's voice: %s",
                            job.group_id, emotion, exc.message)
                unrecorded[emotion] = base
        self._commit(job, unrecorded, status="ready", main_emotion=main)

    def give_up(self, job: MatchJob, error: str) -> None:
        """Record the group's matching as failed (its stock voices stay)."""
        self._commit(job, {}, status="failed", error=error)

    def _match_main(self, job: MatchJob, manifest: Manifest,
                    clips: dict[str, tuple[FloatAudio, int]]) -> tuple[str, VoiceState] | None:
        """The first clip that can be matched (main emotion first) and its matched state."""
        order = sorted(clips, key=lambda e: e != manifest.main_emotion)
        for emotion in order:
            samples, rate = clips[emotion]
            job.main_deadline = (time.monotonic(), self.budget_seconds)
            try:
                state = self._enrol(
                    self.engine, samples, rate,
                    progress=lambda fraction: job.advance(MAIN_SHARE * fraction),
                    cancel=job.cancel, budget_seconds=self.budget_seconds, workers=self.workers,
                )
            except InvalidRequest as exc:
                log.warning("voice group %r: %r cannot be matched: %s",
                            job.group_id, emotion, exc.message)
                continue
            finally:
                job.advance(job.current())
                job.main_deadline = None
            return emotion, state
        return None

    def _finished(self, folder: Path, emotion: str) -> VoiceState | None:
        """The matched state kept for ``emotion``, if a complete one is on disk."""
        try:
            state = VoiceState.load(folder / _matched_file(emotion))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if state.engine != self.engine.name or state.info.get("method") not in MATCHED_METHODS:
            return None
        return state

    def _commit(self, job: MatchJob, states: dict[str, VoiceState], **changes: Any) -> None:
        """Keep ``states`` and update the record, unless the job was cancelled meanwhile."""
        with self.library.editing(job.group_id) as folder:
            if job.cancel.cancelled or not _is_folder(folder, job.folder_id):
                raise EnrolmentCancelled
            manifest = load_manifest(folder)
            if manifest.enrolment is None:
                raise EnrolmentCancelled
            references = dict(manifest.references)
            (folder / MATCHED_DIR).mkdir(parents=True, exist_ok=True)
            for emotion, state in states.items():
                state.save(folder / _matched_file(emotion))
                references[emotion] = references[emotion].model_copy(update={
                    "conditioning": Conditioning.from_state(state, _matched_file(emotion))})
            checks = {e: s.info["intelligibility"] for e, s in states.items()
                      if isinstance(s.info.get("intelligibility"), dict)}
            if checks:
                changes["intelligibility"] = {**manifest.enrolment.intelligibility, **checks}
            record = manifest.enrolment.model_copy(update=changes)
            save_manifest(folder, manifest.model_copy(update={
                "references": references, "enrolment": record, "updated_at": utc_now()}))
        if changes.get("status") == "ready":
            log.info("voice group %r matched", job.group_id)


def _matched_file(emotion: str) -> str:
    """Where ``emotion``'s matched state is kept, relative to the group's folder."""
    return f"{MATCHED_DIR}/{emotion}.npz"


def _is_folder(folder: Path, folder_id: int) -> bool:
    try:
        return folder.stat().st_ino == folder_id
    except OSError:
        return False

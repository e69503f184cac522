"""Voice groups on disk: list them, describe them, pick a reference, replace them atomically.

Each group is a folder under ``root`` (see :mod:`breathvoice.voices.manifest`). Groups are
only ever swapped in or out whole, by renames from a staging folder on the same filesystem,
so a reader sees the old group or the new one, never a mix. A swap tells the group's
background voice matching (:attr:`VoiceLibrary.enrolment`, when attached): the old
group's job is cancelled, the new group's queued. What was read of each group is kept
in memory until its manifest changes (:mod:`breathvoice.voices.group_cache`).
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from breathvoice.engines.base import Engine, VoiceState
from breathvoice.errors import InvalidRequest, VoiceGroupExists, VoiceGroupNotFound
from breathvoice.voices.group_cache import GroupCache
from breathvoice.voices.manifest import (
    MANIFEST_NAME,
    PRONUNCIATION_NAME,
    Manifest,
    is_valid_group_id,
    load_manifest,
    manifest_json,
    save_manifest,
)
from breathvoice.voices.manifest_records import DictionaryRef, state_method, voice_method
from breathvoice.voices.selection import find_emotion, resolve_reference, select_emotion
from breathvoice.voices.staging import in_use, staging_area, swapping

__all__ = ["Choice", "EnrolmentTracker", "VoiceLibrary", "staging_area"]


class EnrolmentTracker(Protocol):
    """What the library tells background voice matching about swaps
    (:class:`~breathvoice.matching.jobs.EnrolmentJobs`)."""

    def submit(self, voice_group_id: str) -> None: ...

    def cancel(self, voice_group_id: str) -> None: ...

    def progress(self, voice_group_id: str) -> float | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Choice:
    """The reference a line is spoken with."""

    emotion: str
    """The emotion actually used (after falling back in an incomplete group)."""
    reference_file: str
    """Its clip's file name, as uploaded (the seed's ``reference_audio``)."""
    voice_state: VoiceState
    requested_emotion: str
    """What the file name or the caller asked for."""

    @property
    def voice_method(self) -> str:
        """How ``voice_state`` speaks, as users see it: ``stock``, ``matched``, ..."""
        return voice_method(state_method(self.voice_state))


class VoiceLibrary:
    """The voice groups under ``root``. Thread-safe.

    ``staging_dir`` (default: ``root/../.staging``) must be on the same filesystem as
    ``root``; replaced and deleted groups pass through it.
    """

    def __init__(self, root: Path, engine: Engine, *, staging_dir: Path | None = None) -> None:
        self.root = root
        self.engine = engine
        self.staging_dir = staging_dir if staging_dir is not None else root.parent / ".staging"
        root.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        # _disk_lock covers renames of group folders and the cache; imports of one id are
        # serialised by that id's lock, held for the whole (slow) import.
        self._disk_lock = threading.RLock()
        self._locks_guard = threading.Lock()
        self._group_locks: dict[str, threading.RLock] = {}
        self._groups = GroupCache(root, engine)
        self.enrolment: EnrolmentTracker | None = None
        """Background voice matching, told about every swap; None: groups are not matched."""

    # -- layout and locking -------------------------------------------------------------

    def group_dir(self, voice_group_id: str) -> Path:
        if not is_valid_group_id(voice_group_id):
            raise VoiceGroupNotFound(voice_group_id)
        return self.root / voice_group_id

    def relative_dir(self, voice_group_id: str) -> str:
        """The group's folder relative to the data folder, e.g. ``voices/NewCharacter``."""
        return f"{self.root.name}/{voice_group_id}"

    def group_lock(self, voice_group_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._group_locks.setdefault(voice_group_id, threading.RLock())

    @contextmanager
    def editing(self, voice_group_id: str) -> Iterator[Path]:
        """The group's folder, with no swap and no other writer until the block ends."""
        with self.group_lock(voice_group_id), self._disk_lock:
            yield self.group_dir(voice_group_id)

    def occupied(self, voice_group_id: str) -> bool:
        """A folder of that name exists, usable or not."""
        return self.group_dir(voice_group_id).exists()

    # -- reading --------------------------------------------------------------------------

    def list_ids(self) -> list[str]:
        """Usable groups, sorted; damaged ones are logged and left out."""
        with self._disk_lock:
            names = sorted(p.name for p in self.root.iterdir()
                           if p.is_dir() and is_valid_group_id(p.name))
            return [name for name in names if self._groups.entry(name).manifest is not None]

    def exists(self, voice_group_id: str) -> bool:
        with self._disk_lock:
            valid = is_valid_group_id(voice_group_id)
            return valid and self._groups.entry(voice_group_id).manifest is not None

    def manifest(self, voice_group_id: str) -> Manifest:
        with self._disk_lock:
            return self._manifest(voice_group_id)

    def details(self, voice_group_id: str) -> dict[str, Any]:
        """The seed's voice-group JSON, plus emotions, rules, conditioning and enrolment."""
        # the job's progress first: if it ends meanwhile, the manifest already says so
        live = self.enrolment.progress(voice_group_id) if self.enrolment else None
        m = self.manifest(voice_group_id)
        available = m.available_emotions
        return {
            "voice_group_id": m.voice_group_id,
            "reference_files": {e: m.references[e].file for e in available},
            "available_emotions": available,
            "file_count": len(available),
            "status": m.status,
            "emotions": list(m.emotions),
            "default_emotion": m.default_emotion,
            "rules": [rule.model_dump() for rule in m.rules],
            "conditioning": {
                e: m.references[e].conditioning.model_dump(exclude={"file"}) for e in available
            },
            "enrolment": m.enrolment_details(live),
            "pronunciation_dictionaries": [ref.model_dump() for ref in
                                           m.pronunciation_dictionaries],
            "pronunciation_file": self.pronunciation_file(voice_group_id) is not None,
        }

    def pronunciation_file(self, voice_group_id: str) -> Path | None:
        """The group's own ``pronunciation.pls``, if its zip carried one."""
        path = self.group_dir(voice_group_id) / PRONUNCIATION_NAME
        return path if path.is_file() else None

    def set_dictionaries(self, voice_group_id: str, refs: list[DictionaryRef]) -> Manifest:
        """Name the dictionaries the group always applies (kept in its manifest)."""
        with self.editing(voice_group_id) as folder:
            if not folder.is_dir():
                raise VoiceGroupNotFound(voice_group_id)
            manifest = load_manifest(folder).model_copy(
                update={"pronunciation_dictionaries": refs})
            save_manifest(folder, manifest)
            return manifest

    def choose(
        self, voice_group_id: str, filename: str | None = None, emotion: str | None = None
    ) -> Choice:
        """The reference for an output ``filename`` (group rules), or an explicit ``emotion``."""
        with self._disk_lock:
            m = self._manifest(voice_group_id)
            available = m.available_emotions
            if emotion:
                wanted = find_emotion(emotion, m.emotions)
                if wanted is None:
                    raise InvalidRequest(
                        f"Unknown emotion '{emotion[:64]}' for voice group '{voice_group_id}'; "
                        f"available: {', '.join(available)}"
                    )
            else:
                wanted = select_emotion(filename or "", m.keyword_rules(), m.default_emotion)
            used = resolve_reference(wanted, available, m.default_emotion)
            state = self._groups.voice_state(voice_group_id, used)
            return Choice(used, m.references[used].file, state, wanted)

    def export_zip(self, voice_group_id: str) -> bytes:
        """The group's reference clips and manifest, as a zip the importer accepts."""
        buffer = io.BytesIO()
        with self._disk_lock:
            m = self._manifest(voice_group_id)
            folder = self.group_dir(voice_group_id)
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST_NAME, manifest_json(m))
                for emotion in m.available_emotions:
                    name = m.references[emotion].file
                    archive.write(folder / name, name)
                if (folder / PRONUNCIATION_NAME).is_file():
                    archive.write(folder / PRONUNCIATION_NAME, PRONUNCIATION_NAME)
        return buffer.getvalue()

    # -- replacing ------------------------------------------------------------------------

    def install_group(self, voice_group_id: str, built: Path, *, overwrite: bool) -> None:
        """Move the finished folder ``built`` into place; on failure the old group stays."""
        target = self.group_dir(voice_group_id)
        replaced: Path | None = None
        with self.group_lock(voice_group_id), self._disk_lock, swapping(self.staging_dir):
            if target.exists():
                if not overwrite:
                    raise VoiceGroupExists(voice_group_id)
                replaced = self.staging_dir / f"replaced-{voice_group_id}-{uuid.uuid4().hex}"
                if self.enrolment is not None:
                    self.enrolment.cancel(voice_group_id)
                os.rename(target, replaced)
            try:
                os.rename(built, target)
            except BaseException:
                if replaced is not None:
                    os.rename(replaced, target)
                raise
            finally:
                self._groups.forget(voice_group_id)
            installed = self._groups.entry(voice_group_id).manifest
            record = installed.enrolment if installed else None
            if self.enrolment is not None and record and record.status == "enrolling":
                self.enrolment.submit(voice_group_id)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)

    def recover_staging(self) -> None:
        """Tidy up after a crash: put back a group caught mid-swap, drop half-built ones
        (never what another live process on the same data dir is still working on)."""
        with self._disk_lock, swapping(self.staging_dir, recovering=True):
            for leftover in sorted(self.staging_dir.iterdir()):
                if in_use(leftover):
                    continue
                if leftover.name.startswith("replaced-"):
                    group_id = leftover.name[len("replaced-"):].rsplit("-", 1)[0]
                    if is_valid_group_id(group_id) and not self.group_dir(group_id).exists():
                        os.rename(leftover, self.group_dir(group_id))
                        continue
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            # Files rewritten in place (manifest, conditioning) go through a temporary
            # name in the group's own folder; a kill can leave one behind.
            for group in self.root.iterdir():
                if group.is_dir() and is_valid_group_id(group.name):
                    for temporary in [*group.glob(".manifest-*.tmp"),
                                      *group.glob("conditioning/**/*.npz.tmp")]:
                        temporary.unlink(missing_ok=True)

    def delete(self, voice_group_id: str) -> None:
        target = self.group_dir(voice_group_id)
        trash = self.staging_dir / f"deleted-{voice_group_id}-{uuid.uuid4().hex}"
        with self.group_lock(voice_group_id), self._disk_lock, swapping(self.staging_dir):
            if not target.is_dir():
                raise VoiceGroupNotFound(voice_group_id)
            if self.enrolment is not None:
                self.enrolment.cancel(voice_group_id)
            os.rename(target, trash)
            self._groups.forget(voice_group_id)
        shutil.rmtree(trash, ignore_errors=True)

    def _manifest(self, voice_group_id: str) -> Manifest:
        return self._groups.manifest(self.group_dir(voice_group_id).name)

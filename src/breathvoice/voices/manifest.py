"""``manifest.json``: what a voice-group folder holds, validated strictly.

A group folder looks like::

    voices/NewCharacter/
        manifest.json
        NewCharacter_greeting.wav          (the uploaded reference clips, names kept)
        NewCharacter_B1_B2.wav ...
        conditioning/greeting.npz ...      (engine conditioning, one per reference)
        conditioning/matched/greeting.npz  (what voice matching found, once it has)

``enrolment`` records the background voice matching of the group, if it has one (see
:mod:`breathvoice.matching.jobs`); each reference's ``conditioning`` names what
synthesis uses now: the nearest stock voice until its clip is matched. The records inside
the manifest are :mod:`breathvoice.voices.manifest_records`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from breathvoice.voices.manifest_records import (
    DEFAULT_RULE_SPECS,
    DictionaryRef,
    EmotionName,
    EnrolmentRecord,
    Reference,
    RuleSpec,
    StrictModel,
    voice_method,
)
from breathvoice.voices.selection import DEFAULT_EMOTION, DEFAULT_EMOTIONS
from breathvoice.voices.selection import KeywordRule as SelectionRule

MANIFEST_NAME = "manifest.json"
PRONUNCIATION_NAME = "pronunciation.pls"
"""A group's own pronunciation rules (PLS), shipped in its zip."""
SCHEMA_VERSION = 1
GROUP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

GroupStatus = Literal["ready", "incomplete"]


class ManifestError(Exception):
    """A manifest on disk is missing, unreadable or invalid (a server-side fault)."""


def is_valid_group_id(voice_group_id: str) -> bool:
    return re.fullmatch(GROUP_ID_PATTERN, voice_group_id) is not None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)



class _Declares(StrictModel):
    """Emotions and rules, with the cross-checks every declaration must pass."""

    emotions: list[EmotionName] = Field(default_factory=lambda: list(DEFAULT_EMOTIONS),
                                        min_length=1)
    default_emotion: EmotionName = DEFAULT_EMOTION
    rules: list[RuleSpec] = Field(default_factory=lambda: list(DEFAULT_RULE_SPECS))

    @model_validator(mode="before")
    @classmethod
    def _defaults_follow_emotions(cls, data: Any) -> Any:
        """Custom emotions without a default or rules get the ones that fit them."""
        if isinstance(data, dict) and isinstance(data.get("emotions"), list):
            emotions = data["emotions"]
            if "default_emotion" not in data and emotions:
                first = emotions[0]
                data = {**data, "default_emotion": "greeting" if "greeting" in emotions
                        else first}
            if "rules" not in data:
                data = {**data, "rules": [r for r in DEFAULT_RULE_SPECS if r.emotion in emotions]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> _Declares:
        declared = set(self.emotions)
        if len({e.casefold() for e in declared}) != len(self.emotions):
            raise ValueError("emotions must be unique (ignoring case)")
        if self.default_emotion not in declared:
            raise ValueError(f"default_emotion '{self.default_emotion}' is not a declared emotion")
        for rule in self.rules:
            if rule.emotion not in declared:
                raise ValueError(f"rule emotion '{rule.emotion}' is not a declared emotion")
        return self

    def keyword_rules(self) -> tuple[SelectionRule, ...]:
        return tuple(rule.to_rule() for rule in self.rules)


class GroupDeclaration(_Declares):
    """The optional ``manifest.json`` / ``voice_group.json`` a user ships inside a zip.

    Only emotions, default emotion and rules are taken from it; the other manifest fields
    are accepted (so an exported group re-imports) but recomputed.
    """

    schema_version: int | None = None
    voice_group_id: str | None = None
    references: dict[str, Reference] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    enrolment: dict[str, Any] | None = None
    pronunciation_dictionaries: list[Any] | None = None


class Manifest(_Declares):
    schema_version: Literal[1] = 1
    voice_group_id: Annotated[str, Field(pattern=GROUP_ID_PATTERN)]
    references: dict[str, Reference] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    enrolment: EnrolmentRecord | None = None
    pronunciation_dictionaries: list[DictionaryRef] = Field(default_factory=list,
                                                            max_length=3)
    """Dictionaries every synthesis with the group applies, first wins (after the
    request's own); a ``pronunciation.pls`` in the folder comes after them."""

    @model_validator(mode="after")
    def _references_declared(self) -> Manifest:
        declared = set(self.emotions)
        for emotion in self.references:
            if emotion not in declared:
                raise ValueError(f"reference for undeclared emotion '{emotion}'")
        return self

    @property
    def available_emotions(self) -> list[str]:
        """Declared emotions that have a reference, in declared order."""
        return [e for e in self.emotions if e in self.references]

    @property
    def status(self) -> GroupStatus:
        """The seed's status: every declared emotion has a clip (voice matching aside)."""
        return "ready" if len(self.available_emotions) == len(self.emotions) else "incomplete"

    @property
    def main_emotion(self) -> str | None:
        """The clip voice matching starts from: the default emotion's, else the first."""
        available = self.available_emotions
        if self.default_emotion in available:
            return self.default_emotion
        return available[0] if available else None

    def enrolment_details(self, live_progress: float | None) -> dict[str, Any]:
        """``{status, progress, method, similarity}`` of the group's voice matching, and
        ``intelligibility`` (per emotion) once its voices were checked.

        ``status`` is ``off`` for a group that is not matched (stock voices, matching
        turned off); ``progress`` stays below 1 only while ``enrolling``. ``method`` and
        ``similarity`` are those of the main clip's voice.
        """
        record = self.enrolment
        main = (record.main_emotion if record else None) or self.main_emotion
        used = self.references[main].conditioning if main in self.references else None
        status = record.status if record else "off"
        progress = (live_progress or 0.0) if status == "enrolling" else 1.0
        details: dict[str, Any] = {
            "status": status,
            "progress": round(min(1.0, max(0.0, progress)), 3),
            "method": voice_method(used.method) if used else None,
            "similarity": used.similarity if used else None,
        }
        if record and record.intelligibility:
            details["intelligibility"] = record.intelligibility
        return details


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, without pydantic's URLs or input echoes."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_manifest(raw: bytes | str) -> Manifest:
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise ManifestError(describe_validation_error(exc)) from exc


def load_manifest(group_dir: Path) -> Manifest:
    """Read and validate ``group_dir/manifest.json``; raises :class:`ManifestError`."""
    try:
        raw = (group_dir / MANIFEST_NAME).read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read {MANIFEST_NAME}: {exc.strerror}") from exc
    manifest = parse_manifest(raw)
    if manifest.voice_group_id != group_dir.name:
        raise ManifestError(
            f"manifest names group '{manifest.voice_group_id}', folder is '{group_dir.name}'"
        )
    return manifest


def manifest_json(manifest: Manifest) -> str:
    data: dict[str, Any] = manifest.model_dump(mode="json")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def save_manifest(group_dir: Path, manifest: Manifest) -> None:
    """Write atomically: a temporary file in the same folder, flushed, then renamed."""
    fd, tmp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=group_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(manifest_json(manifest))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, group_dir / MANIFEST_NAME)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

"""Import a voice group from an uploaded zip (untrusted input).

Every entry is screened from the zip's directory before anything is decompressed; contents
are then streamed to a staging folder under hard byte caps (:mod:`~.zip_upload`). A
shipped manifest is held to its caps (:mod:`breathvoice.voices.declaration`) and every
clip's header to the clip caps before any clip is decoded; then the clips are decoded,
measured and conditioned by the engine (the nearest stock voice, at once) one at a time.
The finished group is swapped in by :meth:`VoiceLibrary.install_group`, so a refused
upload leaves nothing behind. When the library has voice matching attached, the group is
saved ``enrolling`` and matched in the background (:mod:`breathvoice.matching.jobs`).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from breathvoice.audio.decode import AudioLimits, decode_audio, probe_audio
from breathvoice.engines.base import Engine, FloatAudio
from breathvoice.errors import (
    BreathVoiceError,
    EngineError,
    InvalidRequest,
    PayloadTooLarge,
    VoiceGroupExists,
)
from breathvoice.pronunciation.pls import parse_pls
from breathvoice.settings import Settings
from breathvoice.voices.declaration import DeclarationCaps, read_declaration
from breathvoice.voices.library import staging_area
from breathvoice.voices.manifest import (
    PRONUNCIATION_NAME,
    GroupDeclaration,
    Manifest,
    is_valid_group_id,
    save_manifest,
)
from breathvoice.voices.manifest_records import (
    CONDITIONING_DIR,
    Conditioning,
    EnrolmentRecord,
    Reference,
)
from breathvoice.voices.selection import assign_reference_files, resolve_reference
from breathvoice.voices.zip_upload import (
    DAMAGED_ZIP_ERRORS,
    entry_label,
    extract,
    screen,
    too_many_entries,
)

if TYPE_CHECKING:
    from breathvoice.voices.library import VoiceLibrary


@dataclass(frozen=True)
class ImportResult:
    voice_group_id: str
    extracted_files: list[str]
    """Reference clips kept, in zip order."""
    target_directory: str
    """The group's folder relative to the data folder, e.g. ``voices/NewCharacter``."""
    warnings: list[str] = field(default_factory=list)
    status: str = "ready"
    enrolment: str | None = None
    """``enrolling`` when the group is being matched in the background."""


def import_voice_group_zip(data: bytes | str | os.PathLike[str], voice_group_id: str,
                           overwrite: bool, *, library: VoiceLibrary, engine: Engine,
                           settings: Settings) -> ImportResult:
    """Check the zip (content or path), build the group in staging and swap it in."""
    if not is_valid_group_id(voice_group_id):
        raise InvalidRequest("voice_group_id must be 1-64 characters: letters, digits, '_' "
                             "or '-', starting with a letter or digit")
    size = len(data) if isinstance(data, bytes) else Path(data).stat().st_size
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the upload is larger than {settings.max_upload_bytes} bytes")
    content = data if isinstance(data, bytes) else Path(data).read_bytes()
    with library.group_lock(voice_group_id):
        if library.occupied(voice_group_id) and not overwrite:
            raise VoiceGroupExists(voice_group_id)
        # A cheap count before zipfile builds an object per directory record.
        if content.count(b"PK\x01\x02") > settings.max_zip_entries:
            raise too_many_entries(settings)
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except DAMAGED_ZIP_ERRORS as exc:
            raise InvalidRequest("the upload is not a valid zip archive") from exc
        with archive, staging_area(settings.staging_dir) as work:
            entries = screen(archive, settings)
            upload = work / "upload"
            upload.mkdir()
            files = extract(archive, entries, upload, settings)
            declaration = read_declaration(files, DeclarationCaps.from_settings(settings))
            _take_pronunciation(files, work / "group", settings)
            return _build_and_install(voice_group_id, overwrite, files, declaration,
                                      work / "group", library, engine, settings)


def _take_pronunciation(files: dict[str, Path], group_dir: Path, settings: Settings) -> None:
    """Check a shipped ``pronunciation.pls`` (refused like any PLS upload) and keep it."""
    name = next((n for n in files if n.lower() == PRONUNCIATION_NAME), None)
    if name is None:
        return
    path = files.pop(name)
    if path.stat().st_size > settings.max_pls_bytes:
        raise InvalidRequest(f"{PRONUNCIATION_NAME} is larger than {settings.max_pls_bytes} bytes")
    try:
        parse_pls(path.read_bytes(), max_bytes=settings.max_pls_bytes,
                  max_rules=settings.max_dictionary_rules)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{PRONUNCIATION_NAME}: {exc.message}") from exc
    group_dir.mkdir(parents=True, exist_ok=True)
    os.replace(path, group_dir / PRONUNCIATION_NAME)


def _clip_limits(settings: Settings) -> AudioLimits:
    return AudioLimits(max_seconds=settings.max_clip_seconds,
                       max_sample_rate=settings.max_clip_sample_rate,
                       max_channels=settings.max_clip_channels)


def _probe_clip(path: Path, name: str, settings: Settings) -> None:
    """Refuse a clip from its header alone: rate, channels and (when given) length."""
    try:
        probe_audio(path, _clip_limits(settings))
    except InvalidRequest as exc:
        raise InvalidRequest(f"'{entry_label(name)}': {exc.message}") from exc


def _decode_clip(path: Path, name: str, settings: Settings) -> tuple[FloatAudio, int]:
    lo, hi = settings.min_clip_seconds, settings.max_clip_seconds
    try:
        samples, rate = decode_audio(path, limits=_clip_limits(settings))
    except InvalidRequest as exc:
        raise InvalidRequest(f"'{entry_label(name)}': {exc.message}") from exc
    seconds = len(samples) / rate
    if not lo <= seconds <= hi:
        raise InvalidRequest(f"'{entry_label(name)}' lasts {seconds:.2f} s; reference clips must "
                             f"last {lo:g}-{hi:g} s")
    if max(float(np.max(samples)), -float(np.min(samples))) < 1e-4:
        raise InvalidRequest(f"'{entry_label(name)}' is silent")
    return samples, rate


def _condition(emotion: str, path: Path, name: str, group_dir: Path, engine: Engine,
               settings: Settings) -> Reference:
    """Decode one clip, condition the engine on it and move it into the group."""
    samples, rate = _decode_clip(path, name, settings)
    try:
        state = engine.prepare_voice(samples, rate)
    except BreathVoiceError:
        raise
    except Exception as exc:
        raise EngineError(f"the engine could not analyse '{entry_label(name)}'") from exc
    npz = f"{CONDITIONING_DIR}/{emotion}.npz"
    state.save(group_dir / npz)
    os.replace(path, group_dir / name)
    return Reference(file=name, duration_s=round(len(samples) / rate, 3), sample_rate=rate,
                     conditioning=Conditioning.from_state(state, npz))


def _build_and_install(voice_group_id: str, overwrite: bool, files: dict[str, Path],
                       declaration: GroupDeclaration, group_dir: Path, library: VoiceLibrary,
                       engine: Engine, settings: Settings) -> ImportResult:
    by_emotion = assign_reference_files(list(files), declaration.emotions, voice_group_id)
    for name in by_emotion.values():
        _probe_clip(files[name], name, settings)
    (group_dir / CONDITIONING_DIR).mkdir(parents=True, exist_ok=True)
    references = {emotion: _condition(emotion, files[name], name, group_dir, engine, settings)
                  for emotion, name in by_emotion.items()}
    record = EnrolmentRecord(engine=engine.name) if library.enrolment is not None else None
    manifest = Manifest(voice_group_id=voice_group_id, emotions=declaration.emotions,
                        default_emotion=declaration.default_emotion, rules=declaration.rules,
                        references=references, enrolment=record)
    save_manifest(group_dir, manifest)
    library.install_group(voice_group_id, group_dir, overwrite=overwrite)
    missing = [e for e in declaration.emotions if e not in references]
    stand_in = resolve_reference(manifest.default_emotion, manifest.available_emotions,
                                 manifest.default_emotion)
    warnings = [f"no reference for {', '.join(missing)}: the group is incomplete and uses "
                f"'{stand_in}' instead"] if missing else []
    return ImportResult(voice_group_id=voice_group_id,
                        extracted_files=[n for n in files if n in by_emotion.values()],
                        target_directory=library.relative_dir(voice_group_id),
                        warnings=warnings, status=manifest.status,
                        enrolment=record.status if record else None)

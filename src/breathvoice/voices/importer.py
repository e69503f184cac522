"""Import a voice group from an uploaded zip (untrusted input).

Every entry is screened from the zip's directory before anything is decompressed; contents
are then streamed to a staging folder under hard byte caps. A shipped manifest is held to
its caps (:mod:`breathvoice.voices.declaration`) and every clip's header to the clip caps
before any clip is decoded; then the clips are decoded, measured and conditioned by the
engine (the nearest stock voice, at once) one at a time. The finished group is swapped in
by :meth:`VoiceLibrary.install_group`, so a refused upload leaves nothing behind. When the
library has voice matching attached, the group is saved ``enrolling`` and matched in the
background (:mod:`breathvoice.matching.jobs`).
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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
from breathvoice.voices.declaration import DeclarationCaps, is_declaration, read_declaration
from breathvoice.voices.library import staging_area
from breathvoice.voices.manifest import (
    CONDITIONING_DIR,
    PRONUNCIATION_NAME,
    REFERENCE_FILE_PATTERN,
    Conditioning,
    EnrolmentRecord,
    GroupDeclaration,
    Manifest,
    Reference,
    is_valid_group_id,
    save_manifest,
)
from breathvoice.voices.selection import assign_reference_files, resolve_reference

if TYPE_CHECKING:
    from breathvoice.voices.library import VoiceLibrary

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
ARCHIVE_EXTENSIONS = frozenset({".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz",
                                ".zst", ".lz", ".lzma", ".cab", ".jar", ".apk", ".iso"})
# Speech compresses about 1.1-3x; far above this is a bomb. Small entries are exempt.
MAX_COMPRESSION_RATIO = 100
RATIO_EXEMPT_BYTES = 1024 * 1024
_CHUNK = 256 * 1024
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
                       OSError, ValueError, NotImplementedError, RuntimeError)


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


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    name: str
    """The file name once the zip's single top folder (if any) is dropped."""


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
            raise _too_many_entries(settings)
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except _DAMAGED_ZIP_ERRORS as exc:
            raise InvalidRequest("the upload is not a valid zip archive") from exc
        with archive, staging_area(settings.staging_dir) as work:
            entries = _screen(archive, settings)
            upload = work / "upload"
            upload.mkdir()
            files = _extract(archive, entries, upload, settings)
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


def _too_many_entries(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(f"the zip has over {settings.max_zip_entries} entries")


def _label(raw: str) -> str:
    """An entry name safe to show: control characters escaped, length bounded."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw)
    return shown if len(shown) <= 100 else shown[:97] + "..."


def _entry_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The entry's path, split; None for clutter to skip. Refuses anything unsafe."""
    raw = info.orig_filename
    label = _label(raw)
    parts = raw.rstrip("/").split("/")
    if (raw.startswith("/") or "\\" in raw or re.match(r"^[A-Za-z]:", raw)
            or any(p in ("", ".", "..") for p in parts)):
        raise InvalidRequest(f"zip entry '{label}' has an unsafe path")
    if any(not ch.isprintable() for ch in raw):
        raise InvalidRequest(f"zip entry '{label}' has control characters in its name")
    if parts[0] == "__MACOSX" or parts[-1].startswith("._") or (
            parts[-1].casefold() in _JUNK_NAMES):
        return None
    if info.flag_bits & 0x1:
        raise InvalidRequest(f"zip entry '{label}' is encrypted; upload an unencrypted zip")
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        raise InvalidRequest(f"zip entry '{label}' is a symbolic link")
    if file_type not in (0, stat.S_IFDIR if info.is_dir() else stat.S_IFREG):
        raise InvalidRequest(f"zip entry '{label}' is not a regular file")
    if len(parts) > (1 if info.is_dir() else 2):
        raise InvalidRequest(f"zip entry '{label}': put the clips in at most one folder")
    return parts


def _screen(archive: zipfile.ZipFile, settings: Settings) -> list[_Entry]:
    """Refuse the zip from its directory alone; return the entries worth extracting."""
    infos = archive.infolist()
    if len(infos) > settings.max_zip_entries:
        raise _too_many_entries(settings)
    entries: list[_Entry] = []
    seen: dict[str, str] = {}
    top_folders: set[str] = set()
    for info in infos:
        parts = _entry_parts(info)
        if parts is None:
            continue
        if info.is_dir() or len(parts) == 2:
            top_folders.add(parts[0])
        if info.is_dir():
            continue
        name, label = parts[-1], _label(info.orig_filename)
        _check_entry_name(name, label)
        if name.casefold() in seen:
            raise InvalidRequest(f"zip entries '{seen[name.casefold()]}' and '{label}' clash")
        seen[name.casefold()] = label
        entries.append(_Entry(info, name))
    if len(top_folders) > 1:
        raise InvalidRequest("the zip holds several folders; put the clips in at most one")
    if sum(e.info.file_size for e in entries) > settings.max_zip_uncompressed_bytes:
        raise _too_big(settings)
    return entries


def _check_entry_name(name: str, label: str) -> None:
    suffix = PurePosixPath(name).suffix.lower()
    if is_declaration(name) or name.lower() == PRONUNCIATION_NAME:
        return
    if suffix in ARCHIVE_EXTENSIONS:
        raise InvalidRequest(f"zip entry '{label}' is an archive; nested archives are refused")
    if suffix not in AUDIO_EXTENSIONS:
        raise InvalidRequest(f"zip entry '{label}' is not an audio file "
                             f"(allowed: {', '.join(AUDIO_EXTENSIONS)})")
    if not re.fullmatch(REFERENCE_FILE_PATTERN, name):
        raise InvalidRequest(f"zip entry '{label}' has an unusable file name")


def _too_big(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(f"the zip unpacks to over {settings.max_zip_uncompressed_bytes} bytes")


def _chunks(archive: zipfile.ZipFile, entry: _Entry) -> Iterator[bytes]:
    try:
        with archive.open(entry.info) as source:
            while chunk := source.read(_CHUNK):
                yield chunk
    except _DAMAGED_ZIP_ERRORS as exc:
        raise InvalidRequest(f"zip entry '{_label(entry.info.orig_filename)}' is damaged or "
                             "uses an unsupported compression method") from exc


def _extract(archive: zipfile.ZipFile, entries: list[_Entry], dest: Path,
             settings: Settings) -> dict[str, Path]:
    """Stream each entry to ``dest``, counting real bytes (headers may lie)."""
    total = 0
    for entry in entries:
        ratio_cap = max(RATIO_EXEMPT_BYTES, MAX_COMPRESSION_RATIO * entry.info.compress_size)
        written = 0
        with open(dest / entry.name, "xb") as out:
            for chunk in _chunks(archive, entry):
                written += len(chunk)
                total += len(chunk)
                if total > settings.max_zip_uncompressed_bytes:
                    raise _too_big(settings)
                if written > ratio_cap:
                    raise PayloadTooLarge(
                        f"zip entry '{_label(entry.info.orig_filename)}' is a compression bomb")
                out.write(chunk)
    return {entry.name: dest / entry.name for entry in entries}


def _clip_limits(settings: Settings) -> AudioLimits:
    return AudioLimits(max_seconds=settings.max_clip_seconds,
                       max_sample_rate=settings.max_clip_sample_rate,
                       max_channels=settings.max_clip_channels)


def _probe_clip(path: Path, name: str, settings: Settings) -> None:
    """Refuse a clip from its header alone: rate, channels and (when given) length."""
    try:
        probe_audio(path, _clip_limits(settings))
    except InvalidRequest as exc:
        raise InvalidRequest(f"'{_label(name)}': {exc.message}") from exc


def _decode_clip(path: Path, name: str, settings: Settings) -> tuple[FloatAudio, int]:
    lo, hi = settings.min_clip_seconds, settings.max_clip_seconds
    try:
        samples, rate = decode_audio(path, limits=_clip_limits(settings))
    except InvalidRequest as exc:
        raise InvalidRequest(f"'{_label(name)}': {exc.message}") from exc
    seconds = len(samples) / rate
    if not lo <= seconds <= hi:
        raise InvalidRequest(f"'{_label(name)}' lasts {seconds:.2f} s; reference clips must "
                             f"last {lo:g}-{hi:g} s")
    if max(float(np.max(samples)), -float(np.min(samples))) < 1e-4:
        raise InvalidRequest(f"'{_label(name)}' is silent")
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
        raise EngineError(f"the engine could not analyse '{_label(name)}'") from exc
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

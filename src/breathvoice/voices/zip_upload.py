"""Screening and unpacking an uploaded zip (untrusted input), before any clip is decoded.

Every entry is screened from the zip's directory before anything is decompressed: paths
that could escape the folder, links, encrypted entries, nested archives, files that are
neither audio clips, a group declaration nor ``pronunciation.pls``, clashing names, more
than one folder, and a declared size over the cap. Contents are then streamed to a staging
folder counting the real bytes (headers may lie), under the total cap and a compression
ratio cap per entry.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from breathvoice.errors import InvalidRequest, PayloadTooLarge
from breathvoice.settings import Settings
from breathvoice.voices.declaration import is_declaration
from breathvoice.voices.manifest import PRONUNCIATION_NAME
from breathvoice.voices.manifest_records import REFERENCE_FILE_PATTERN

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
ARCHIVE_EXTENSIONS = frozenset({".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz",
                                ".zst", ".lz", ".lzma", ".cab", ".jar", ".apk", ".iso"})
# Speech compresses about 1.1-3x; far above this is a bomb. Small entries are exempt.
MAX_COMPRESSION_RATIO = 100
RATIO_EXEMPT_BYTES = 1024 * 1024
_CHUNK = 256 * 1024
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
                      OSError, ValueError, NotImplementedError, RuntimeError)


@dataclass(frozen=True)
class Entry:
    info: zipfile.ZipInfo
    name: str
    """The file name once the zip's single top folder (if any) is dropped."""


def too_many_entries(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(f"the zip has over {settings.max_zip_entries} entries")


def entry_label(raw: str) -> str:
    """An entry name safe to show: control characters escaped, length bounded."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw)
    return shown if len(shown) <= 100 else shown[:97] + "..."


def _entry_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The entry's path, split; None for clutter to skip. Refuses anything unsafe."""
    raw = info.orig_filename
    label = entry_label(raw)
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


def screen(archive: zipfile.ZipFile, settings: Settings) -> list[Entry]:
    """Refuse the zip from its directory alone; return the entries worth extracting."""
    infos = archive.infolist()
    if len(infos) > settings.max_zip_entries:
        raise too_many_entries(settings)
    entries: list[Entry] = []
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
        name, label = parts[-1], entry_label(info.orig_filename)
        _check_entry_name(name, label)
        if name.casefold() in seen:
            raise InvalidRequest(f"zip entries '{seen[name.casefold()]}' and '{label}' clash")
        seen[name.casefold()] = label
        entries.append(Entry(info, name))
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


def _chunks(archive: zipfile.ZipFile, entry: Entry) -> Iterator[bytes]:
    try:
        with archive.open(entry.info) as source:
            while chunk := source.read(_CHUNK):
                yield chunk
    except DAMAGED_ZIP_ERRORS as exc:
        raise InvalidRequest(f"zip entry '{entry_label(entry.info.orig_filename)}' is damaged or "
                             "uses an unsupported compression method") from exc


def extract(archive: zipfile.ZipFile, entries: list[Entry], dest: Path,
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
                    shown = entry_label(entry.info.orig_filename)
                    raise PayloadTooLarge(f"zip entry '{shown}' is a compression bomb")
                out.write(chunk)
    return {entry.name: dest / entry.name for entry in entries}

"""Generated audio files: one folder per voice group, apart for each key.

Without keys, a file lives at ``<group>/<file>`` under the output folder, as the seed
guide shows. A key's files live under ``_keys/<key id>/<group>/<file>`` (a voice group id
never starts with ``_``), so two keys never share or overwrite a file; who may download
which is decided by the download route.

Retention: files older than ``retention_seconds`` and, beyond ``max_bytes`` in all, the
oldest files are removed when a file is written. The store keeps an index of its files
(built by one scan when it is opened, then kept up to date by its writes), so a write
costs no walk of the folder. A write that the disk or the cap cannot hold raises
:class:`StorageFull` (507).

File names come from users, so they are checked before anything touches the disk:
no path separators, no ``..``, no control characters, an audio extension (``.wav`` is
added when there is none). Paths handed back to users are relative to the output folder.

Each file is written under a hidden temporary name (``.partial-…``) in its final folder and
renamed into place once complete, so a crash at any moment leaves either the old file or
the new one under the final name, never a part of one. Hidden names are never served, and
partial files left by a killed process are removed when the store is next opened (the
writer holds a lock on its partial file, so one being written by another process sharing
the folder is left alone).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from breathvoice.audio.files import FILE_EXTENSIONS
from breathvoice.errors import InvalidRequest, OutputNotFound, StorageFull

MAX_FILENAME_CHARS = 200
PARTIAL_PREFIX = ".partial-"
KEYS_FOLDER = "_keys"
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_GROUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_filename(filename: str) -> str:
    """The file name to write for ``filename``, or InvalidRequest saying what is wrong."""
    name = filename.strip() if isinstance(filename, str) else ""
    if not name:
        raise InvalidRequest("filename must not be empty")
    if len(name) > MAX_FILENAME_CHARS:
        raise InvalidRequest(f"filename is longer than {MAX_FILENAME_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise InvalidRequest("filename must not contain control characters")
    if "/" in name or "\\" in name or ":" in name:
        raise InvalidRequest("filename must be a plain file name, without path separators")
    if name.startswith(".") or ".." in name:
        raise InvalidRequest("filename must not start with '.' or contain '..'")
    stem, ext = os.path.splitext(name)
    if not ext:
        return name + ".wav"
    if ext.lower() not in FILE_EXTENSIONS:
        allowed = ", ".join(FILE_EXTENSIONS)
        raise InvalidRequest(f"filename extension '{ext}' is not an audio type ({allowed})")
    if not stem:
        raise InvalidRequest("filename needs a name before its extension")
    return name


class OutputStore:
    def __init__(self, root: Path, retention_seconds: float = 0.0, max_bytes: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        """Open the output folder ``root`` (one server per data folder), tidying up after a
        crash: partial files of writes that never finished are removed. ``0`` for
        ``retention_seconds`` or ``max_bytes`` means no limit of that kind."""
        self.root = root
        self.retention_seconds = retention_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[float, int]] = {}
        """Every stored file: (mtime, size), oldest first."""
        self._bytes = 0
        found: list[tuple[float, int, Path]] = []
        for path in root.rglob("*"):
            if path.name.startswith(PARTIAL_PREFIX):
                remove_if_abandoned(path)
            elif path.is_file():
                info = path.stat()
                found.append((info.st_mtime, info.st_size, path))
        for mtime, size, path in sorted(found):
            self._files[path] = (mtime, size)
            self._bytes += size
        with self._lock:
            self._make_room(None, 0)

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def relative_path(self, voice_group_id: str, filename: str,
                      key_id: str | None = None) -> str:
        if key_id is None:
            return f"{voice_group_id}/{filename}"
        return f"{KEYS_FOLDER}/{key_id}/{voice_group_id}/{filename}"

    def _path(self, voice_group_id: str, filename: str, key_id: str | None) -> Path:
        folder = self.root
        if key_id is not None:
            if not _GROUP_ID.match(key_id):
                raise OutputNotFound()
            folder = self.root / KEYS_FOLDER / key_id
        if not _GROUP_ID.match(voice_group_id):
            raise OutputNotFound()
        path = (folder / voice_group_id / filename).resolve()
        if path.parent != (folder / voice_group_id).resolve():
            raise OutputNotFound()
        return path

    def write(self, voice_group_id: str, filename: str, data: bytes,
              key_id: str | None = None) -> str:
        """Store ``data`` atomically (temp file, fsync, rename) in the key's folder (the
        shared one for None); return the relative path. Old files are removed first as
        retention requires; StorageFull if the cap or the disk cannot hold ``data``."""
        name = check_filename(filename)
        path = self._path(voice_group_id, name, key_id)
        with self._lock:
            self._make_room(path, len(data))
        try:
            write_atomically(path, data)
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise StorageFull() from exc
            raise
        with self._lock:
            self._forget(path)
            self._files[path] = (self._clock(), len(data))
            self._bytes += len(data)
        return self.relative_path(voice_group_id, name, key_id)

    def find(self, voice_group_id: str, filename: str, key_id: str | None = None) -> Path:
        """The file to serve for a download, or OutputNotFound (also once it has expired)."""
        try:
            name = check_filename(filename)
        except InvalidRequest as exc:
            raise OutputNotFound() from exc
        path = self._path(voice_group_id, name, key_id)
        if name != filename or not path.is_file() or self._expired(path.stat().st_mtime):
            raise OutputNotFound()
        return path

    def _expired(self, mtime: float) -> bool:
        return bool(self.retention_seconds) and mtime < self._clock() - self.retention_seconds

    def _forget(self, path: Path) -> None:
        known = self._files.pop(path, None)
        if known is not None:
            self._bytes -= known[1]

    def _make_room(self, path: Path | None, size: int) -> None:
        """Remove expired files, then the oldest until ``size`` more bytes fit the cap
        (the file at ``path``, about to be replaced, does not count)."""
        while self._files:
            oldest, (mtime, _) = next(iter(self._files.items()))
            if not self._expired(mtime):
                break
            self._remove(oldest)
        if not self.max_bytes:
            return
        if size > self.max_bytes:
            raise StorageFull(f"the file is larger than the output storage cap "
                              f"({self.max_bytes} bytes)")
        replaced = self._files[path][1] if path in self._files else 0
        while self._bytes - replaced + size > self.max_bytes:
            oldest = next(p for p in self._files if p != path)
            self._remove(oldest)

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._forget(path)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` under ``path`` whole or not at all: a hidden partial file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=path.parent)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # in use: another process starting leaves it alone
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_if_abandoned(partial: Path) -> None:
    """Delete a partial file its writer left (it died), not one a live process writes."""
    try:
        fd = os.open(partial, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    finally:
        os.close(fd)
    partial.unlink(missing_ok=True)

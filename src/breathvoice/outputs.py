"""Generated audio files: one folder per voice group under the output folder.

File names come from users, so they are checked before anything touches the disk:
no path separators, no ``..``, no control characters, an audio extension (``.wav`` is
added when there is none). Paths handed back to users are relative to the output folder.

Each file is written under a hidden temporary name (``.partial-…``) in its final folder and
renamed into place once complete, so a crash at any moment leaves either the old file or
the new one under the final name, never a part of one. Hidden names are never served, and
partial files left by a killed process are removed when the store is next opened.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from breathvoice.audio.files import FILE_EXTENSIONS
from breathvoice.errors import InvalidRequest, OutputNotFound

MAX_FILENAME_CHARS = 200
PARTIAL_PREFIX = ".partial-"
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
    def __init__(self, root: Path) -> None:
        """Open the output folder ``root`` (one server per data folder), tidying up after a
        crash: partial files of writes that never finished are removed."""
        self.root = root
        for leftover in root.glob(f"*/{PARTIAL_PREFIX}*"):
            leftover.unlink(missing_ok=True)

    def relative_path(self, voice_group_id: str, filename: str) -> str:
        return f"{voice_group_id}/{filename}"

    def _path(self, voice_group_id: str, filename: str) -> Path:
        if not _GROUP_ID.match(voice_group_id):
            raise OutputNotFound()
        path = (self.root / voice_group_id / filename).resolve()
        if path.parent != (self.root / voice_group_id).resolve():
            raise OutputNotFound()
        return path

    def write(self, voice_group_id: str, filename: str, data: bytes) -> str:
        """Store ``data`` atomically (temp file, fsync, rename); return the relative path."""
        name = check_filename(filename)
        path = self._path(voice_group_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.relative_path(voice_group_id, name)

    def find(self, voice_group_id: str, filename: str) -> Path:
        """The file to serve for a download, or OutputNotFound."""
        try:
            name = check_filename(filename)
        except InvalidRequest as exc:
            raise OutputNotFound() from exc
        path = self._path(voice_group_id, name)
        if name != filename or not path.is_file():
            raise OutputNotFound()
        return path

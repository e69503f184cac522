"""The staging folder, shared by every process (and node) on one data dir.

Groups are built in a ``build-*`` folder there and swapped in by renames; a group swapped
out or deleted passes through it as ``replaced-*`` / ``deleted-*``. After a crash,
:meth:`~breathvoice.voices.library.VoiceLibrary.recover_staging` tidies what was left,
and it must never touch what a live process is still using: a build holds an exclusive
lock on its ``build-*.lock`` file while it runs, swaps hold ``<staging>.lock`` (beside the
folder) shared, and the recovery takes that one exclusively. The kernel (or the NFS
server, once a dead client's lease runs out) drops the locks of a process that died, so
its leftovers are then fair game.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_SUFFIX = ".lock"


def _lock(path: Path, mode: int) -> int | None:
    """An open descriptor holding ``mode`` on ``path``; None if a non-blocking try failed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def staging_area(staging_dir: Path) -> Iterator[Path]:
    """A fresh empty folder under ``staging_dir``, removed with all it holds on exit."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=staging_dir))
    lock = work.with_name(work.name + LOCK_SUFFIX)
    fd = _lock(lock, fcntl.LOCK_EX)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        lock.unlink(missing_ok=True)
        if fd is not None:
            os.close(fd)


@contextmanager
def swapping(staging_dir: Path, *, recovering: bool = False) -> Iterator[None]:
    """Held around renames through ``staging_dir`` (shared), or by the recovery (alone)."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    lock = staging_dir.with_name(staging_dir.name + LOCK_SUFFIX)
    fd = _lock(lock, fcntl.LOCK_EX if recovering else fcntl.LOCK_SH)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def in_use(leftover: Path) -> bool:
    """Whether a live process still works on this entry of the staging folder."""
    if leftover.name.endswith(LOCK_SUFFIX):
        lock = leftover
    elif leftover.name.startswith("build-"):
        lock = leftover.with_name(leftover.name + LOCK_SUFFIX)
        if not lock.exists():
            return False
    else:
        return False
    with contextlib.suppress(FileNotFoundError):
        fd = _lock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            return True
        os.close(fd)
    return False

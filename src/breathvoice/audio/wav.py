"""16-bit mono WAV: headers, whole files in memory, and atomic writes to disk."""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from pathlib import Path

import numpy.typing as npt

from breathvoice.audio.pcm import float_to_pcm16_bytes
from breathvoice.audio.resample import as_mono_float32

_BITS_PER_SAMPLE = 16
_CHANNELS = 1
_HEADER_SIZE = 44
# A stream's length is unknown when the header goes out; like OpenAI we put the largest
# value in both size fields, which players read as "until the end of the data".
_UNKNOWN_SIZE = 0xFFFFFFFF
_FILE_MODE = 0o644


def wav_header(sample_rate: int, data_size: int | None = None) -> bytes:
    """The 44-byte header of a PCM WAV; ``data_size=None`` for a stream of unknown length."""
    block_align = _CHANNELS * _BITS_PER_SAMPLE // 8
    if data_size is None:
        riff_size = data_field = _UNKNOWN_SIZE
    else:
        if data_size < 0 or data_size + _HEADER_SIZE - 8 > _UNKNOWN_SIZE:
            raise ValueError("WAV data size out of range")
        riff_size, data_field = data_size + _HEADER_SIZE - 8, data_size
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", riff_size),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHH",
                16,  # size of the fmt chunk
                1,  # WAVE_FORMAT_PCM
                _CHANNELS,
                sample_rate,
                sample_rate * block_align,
                block_align,
                _BITS_PER_SAMPLE,
            ),
            b"data",
            struct.pack("<I", data_field),
        )
    )


def wav_bytes(samples: npt.ArrayLike, sample_rate: int) -> bytes:
    """A complete 16-bit mono WAV file of ``samples`` (float in [-1, 1])."""
    data = float_to_pcm16_bytes(as_mono_float32(samples))
    return wav_header(sample_rate, len(data)) + data


def write_wav_file(path: Path, samples: npt.ArrayLike, sample_rate: int) -> None:
    """Write ``samples`` as a 16-bit mono WAV at ``path``, all or nothing.

    The file is written under a temporary name in the same folder, synced to disk and
    renamed over ``path``; a failure leaves any previous file at ``path`` untouched and
    no temporary file behind.
    """
    path = Path(path)
    payload = wav_bytes(samples, sample_rate)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                # mkstemp makes owner-only files; outputs are meant to be shared.
                os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)

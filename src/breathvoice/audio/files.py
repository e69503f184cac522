"""Whole audio files by file name: what single-tts, batch-tts and ``say`` store."""

from __future__ import annotations

import io
import os

import numpy.typing as npt
import soundfile as sf

from breathvoice.audio.encoders import encode_all
from breathvoice.audio.formats import parse_openai_format
from breathvoice.audio.resample import as_mono_float32
from breathvoice.audio.wav import wav_bytes
from breathvoice.errors import UnsupportedFormat

FILE_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus")


def encode_file(samples: npt.ArrayLike, sample_rate: int, filename: str) -> bytes:
    """The bytes of a complete file of the type ``filename``'s extension names."""
    ext = os.path.splitext(filename)[1].lower() or ".wav"
    if ext == ".wav":
        return wav_bytes(samples, sample_rate)
    if ext == ".flac":  # a whole file, so write the header with its total length
        buffer = io.BytesIO()
        sf.write(buffer, as_mono_float32(samples), sample_rate, format="FLAC",
                 subtype="PCM_16")
        return buffer.getvalue()
    if ext == ".mp3":
        return encode_all(parse_openai_format("mp3"), samples, sample_rate)
    if ext in (".ogg", ".opus"):
        return encode_all(parse_openai_format("opus"), samples, sample_rate)
    raise UnsupportedFormat(f"cannot write '{ext}' files; use one of {', '.join(FILE_EXTENSIONS)}")

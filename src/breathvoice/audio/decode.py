"""Decode uploaded or stored audio into mono float32 samples.

WAV, FLAC and Ogg Vorbis go through soundfile (libsndfile); what it cannot read (mp3, aac,
m4a, opus, webm, ...) goes through PyAV. Input is untrusted: anything that does not decode
becomes :class:`~breathvoice.errors.InvalidRequest` with a message that names no file.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import soundfile

from breathvoice.engines.base import FloatAudio
from breathvoice.errors import InvalidRequest

_UNDECODABLE = "Could not decode the audio: the data is not a supported audio format"

# libsndfile reports a huge frame count for streams whose header does not give one.
_UNKNOWN_LENGTH = 1 << 40

# What a foreign decoder may raise on malformed input.
_SOUNDFILE_ERRORS = (soundfile.SoundFileError, RuntimeError, ValueError, TypeError, EOFError)
_PYAV_ERRORS = (av.FFmpegError, RuntimeError, ValueError, TypeError, EOFError, IndexError,
                OverflowError, UnicodeDecodeError)


def decode_audio(
    data: bytes | bytearray | memoryview | Path, *, max_seconds: float | None = None
) -> tuple[FloatAudio, int]:
    """Decode ``data`` (file content, or a path to read) to ``(mono float32, sample rate)``.

    Channels are averaged to mono. ``max_seconds`` refuses longer audio before decoding it
    all. Raises :class:`InvalidRequest` when the data is not audio we can decode.
    """
    content = data.read_bytes() if isinstance(data, Path) else bytes(data)
    if not content:
        raise InvalidRequest("The audio is empty")
    decoded = _decode_with_soundfile(content, max_seconds)
    if decoded is None:
        decoded = _decode_with_pyav(content, max_seconds)
    samples, rate = decoded
    if len(samples) == 0:
        raise InvalidRequest("The audio contains no samples")
    if not np.isfinite(samples).all():
        raise InvalidRequest("The audio contains invalid (non-finite) samples")
    return samples, rate


def _decode_with_soundfile(
    content: bytes, max_seconds: float | None
) -> tuple[FloatAudio, int] | None:
    try:
        with soundfile.SoundFile(io.BytesIO(content)) as sound:
            rate = int(sound.samplerate)
            _check_rate(rate)
            if not 0 < sound.frames < _UNKNOWN_LENGTH:
                return None  # a stream of unknown length: PyAV decodes it incrementally
            _check_length(sound.frames, rate, max_seconds)
            frames = sound.read(dtype="float32", always_2d=True)
    except _SOUNDFILE_ERRORS:
        return None
    return _downmix(frames.T), rate


def _decode_with_pyav(content: bytes, max_seconds: float | None) -> tuple[FloatAudio, int]:
    try:
        with av.open(io.BytesIO(content), mode="r") as container:
            if not container.streams.audio:
                raise InvalidRequest(_UNDECODABLE)
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            _check_rate(rate)
            # Planar float keeps every channel apart, whatever the codec's own format.
            converter = av.AudioResampler(format="fltp")
            pieces: list[FloatAudio] = []
            decoded_frames = 0
            for frame in container.decode(stream):
                for converted in converter.resample(frame):
                    pieces.append(_downmix(converted.to_ndarray()))
                    decoded_frames += converted.samples
                _check_length(decoded_frames, rate, max_seconds)
    except _PYAV_ERRORS as exc:
        raise InvalidRequest(_UNDECODABLE) from exc
    if not pieces:
        return np.zeros(0, dtype=np.float32), rate
    return np.concatenate(pieces), rate


def _downmix(channels_first: np.ndarray) -> FloatAudio:
    planes = np.asarray(channels_first, dtype=np.float32)
    if planes.ndim == 1:
        return np.ascontiguousarray(planes)
    if planes.shape[0] == 1:
        return np.ascontiguousarray(planes[0])
    return np.ascontiguousarray(planes.mean(axis=0, dtype=np.float32))


def _check_rate(rate: int) -> None:
    if not 1000 <= rate <= 384_000:
        raise InvalidRequest("The audio has an unsupported sample rate")


def _check_length(frames: int, rate: int, max_seconds: float | None) -> None:
    if max_seconds is not None and frames > max_seconds * rate:
        raise InvalidRequest(f"The audio is longer than {max_seconds:g} seconds")

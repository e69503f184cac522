"""Decode uploaded or stored audio into mono float32 samples.

WAV, FLAC and Ogg Vorbis go through soundfile (libsndfile); what it cannot read (mp3, aac,
m4a, opus, webm, ...) goes through PyAV. Input is untrusted: anything that does not decode
becomes :class:`~breathvoice.errors.InvalidRequest` with a message that names no file.

The work is bounded by what the audio declares, judged before decoding (:class:`AudioLimits`
against its :class:`AudioHeader`): its sample rate, its channels and, where the header gives
it, its length. Decoding then goes a block at a time, each block averaged to mono at once,
so memory follows the mono clip, not its channels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import soundfile

from breathvoice.engines.base import FloatAudio
from breathvoice.errors import InvalidRequest

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000

_UNDECODABLE = "Could not decode the audio: the data is not a supported audio format"
_NON_FINITE = "The audio contains invalid (non-finite) samples"

# libsndfile reports a huge frame count for streams whose header does not give one.
_UNKNOWN_LENGTH = 1 << 40
_BLOCK_FRAMES = 1 << 16

# What a foreign decoder may raise on malformed input.
_SOUNDFILE_ERRORS = (soundfile.SoundFileError, RuntimeError, ValueError, TypeError, EOFError)
_PYAV_ERRORS = (av.FFmpegError, RuntimeError, ValueError, TypeError, EOFError, IndexError,
                OverflowError, UnicodeDecodeError)

AudioSource = bytes | bytearray | memoryview | Path


@dataclass(frozen=True)
class AudioHeader:
    """What a clip says of itself before any of it is decoded."""

    sample_rate: int
    channels: int
    frames: int | None
    """Frames per channel; None when the header does not say (a stream, most mp3s)."""


@dataclass(frozen=True)
class AudioLimits:
    """What a decoder accepts; each is judged from the header before decoding."""

    max_seconds: float | None = None
    max_sample_rate: int = MAX_SAMPLE_RATE
    max_channels: int | None = None

    def check(self, header: AudioHeader) -> None:
        rate = header.sample_rate
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise InvalidRequest("The audio has an unsupported sample rate")
        if rate > self.max_sample_rate:
            raise InvalidRequest(f"The audio's sample rate is {rate} Hz; at most "
                                 f"{self.max_sample_rate} Hz is accepted")
        self.check_channels(header.channels)
        if header.frames is not None:
            self.check_length(header.frames, rate)

    def check_channels(self, channels: int) -> None:
        if channels < 1:
            raise InvalidRequest(_UNDECODABLE)
        if self.max_channels is not None and channels > self.max_channels:
            raise InvalidRequest(f"The audio has {channels} channels; at most "
                                 f"{self.max_channels} are accepted")

    def check_length(self, frames: int, rate: int) -> None:
        if self.max_seconds is not None and frames > self.max_seconds * rate:
            raise InvalidRequest(f"The audio is longer than {self.max_seconds:g} seconds")


def probe_audio(data: AudioSource, limits: AudioLimits | None = None) -> AudioHeader:
    """Read only the header of ``data`` and hold it to ``limits``; nothing is decoded."""
    limits = limits or AudioLimits()
    header = _header_with_soundfile(data) or _header_with_pyav(data)
    limits.check(header)
    return header


def decode_audio(data: AudioSource, *, max_seconds: float | None = None,
                 limits: AudioLimits | None = None) -> tuple[FloatAudio, int]:
    """Decode ``data`` (file content, or a path to read) to ``(mono float32, sample rate)``.

    Channels are averaged to mono. ``limits`` (``max_seconds`` is short for its field) are
    judged from the header before decoding; a length the header does not give is counted
    while decoding. Raises :class:`InvalidRequest` when the data is not audio we can decode.
    """
    limits = limits or AudioLimits()
    if max_seconds is not None:
        limits = replace(limits, max_seconds=max_seconds)
    if (data.stat().st_size if isinstance(data, Path) else len(data)) == 0:
        raise InvalidRequest("The audio is empty")
    decoded = _decode_with_soundfile(data, limits)
    if decoded is None:
        decoded = _decode_with_pyav(data, limits)
    samples, rate = decoded
    if len(samples) == 0:
        raise InvalidRequest("The audio contains no samples")
    return samples, rate


def _open(data: AudioSource) -> BinaryIO:
    """A file object to read from: foreign decoders never see a path they might interpret."""
    return data.open("rb") if isinstance(data, Path) else io.BytesIO(data)


def _soundfile_header(sound: soundfile.SoundFile) -> AudioHeader:
    frames = int(sound.frames) if 0 < sound.frames < _UNKNOWN_LENGTH else None
    return AudioHeader(int(sound.samplerate), int(sound.channels), frames)


def _header_with_soundfile(data: AudioSource) -> AudioHeader | None:
    try:
        with _open(data) as source, soundfile.SoundFile(source) as sound:
            return _soundfile_header(sound)
    except _SOUNDFILE_ERRORS:
        return None


def _header_with_pyav(data: AudioSource) -> AudioHeader:
    try:
        with _open(data) as source, av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise InvalidRequest(_UNDECODABLE)
            context = container.streams.audio[0].codec_context
            return AudioHeader(int(context.sample_rate or 0), int(context.channels or 0), None)
    except _PYAV_ERRORS as exc:
        raise InvalidRequest(_UNDECODABLE) from exc


def _decode_with_soundfile(data: AudioSource, limits: AudioLimits
                           ) -> tuple[FloatAudio, int] | None:
    try:
        with _open(data) as source, soundfile.SoundFile(source) as sound:
            header = _soundfile_header(sound)
            limits.check(header)
            if header.frames is None:
                return None  # a stream of unknown length: PyAV decodes it incrementally
            return _read_mono(sound, header.frames, header.channels), header.sample_rate
    except _SOUNDFILE_ERRORS:
        return None


def _read_mono(sound: soundfile.SoundFile, frames: int, channels: int) -> FloatAudio:
    """Read ``frames`` a block at a time, each averaged to mono into the one result."""
    mono = np.empty(frames, dtype=np.float32)
    block = np.empty((min(frames, _BLOCK_FRAMES), channels), dtype=np.float32)
    filled = 0
    while filled < frames:
        got = sound.read(out=block[: frames - filled])
        if len(got) == 0:
            break  # the file holds fewer frames than its header said
        part = mono[filled:filled + len(got)]
        np.mean(got, axis=1, dtype=np.float32, out=part)
        if not np.isfinite(part).all():
            raise InvalidRequest(_NON_FINITE)
        filled += len(got)
    return mono if filled == frames else mono[:filled].copy()


def _decode_with_pyav(data: AudioSource, limits: AudioLimits) -> tuple[FloatAudio, int]:
    try:
        with _open(data) as source, av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise InvalidRequest(_UNDECODABLE)
            stream = container.streams.audio[0]
            context = stream.codec_context
            rate = int(context.sample_rate or 0)
            limits.check(AudioHeader(rate, int(context.channels or 0), None))
            # Planar float keeps every channel apart, whatever the codec's own format.
            converter = av.AudioResampler(format="fltp")
            pieces: list[FloatAudio] = []
            decoded_frames = 0
            for frame in container.decode(stream):
                limits.check_channels(frame.layout.nb_channels)
                for converted in converter.resample(frame):
                    pieces.append(_downmix(converted.to_ndarray()))
                    decoded_frames += converted.samples
                limits.check_length(decoded_frames, rate)
    except _PYAV_ERRORS as exc:
        raise InvalidRequest(_UNDECODABLE) from exc
    if not pieces:
        return np.zeros(0, dtype=np.float32), rate
    samples = np.concatenate(pieces)
    if not np.isfinite(samples).all():
        raise InvalidRequest(_NON_FINITE)
    return samples, rate


def _downmix(channels_first: np.ndarray) -> FloatAudio:
    planes = np.asarray(channels_first, dtype=np.float32)
    if planes.ndim == 1:
        return np.ascontiguousarray(planes)
    if planes.shape[0] == 1:
        return np.ascontiguousarray(planes[0])
    return np.ascontiguousarray(planes.mean(axis=0, dtype=np.float32))

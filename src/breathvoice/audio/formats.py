"""Output formats by the names clients use: ElevenLabs' ``mp3_22050_32`` and OpenAI's ``mp3``.

An :class:`OutputFormat` says what bytes a client gets: codec, sample rate, bitrate (for
compressed codecs), the HTTP media type and the file extension. Only formats we can encode
exist; anything else is refused with :class:`~breathvoice.errors.UnsupportedFormat`
listing what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from breathvoice.errors import UnsupportedFormat

Codec = Literal["pcm", "ulaw", "alaw", "mp3", "opus", "aac", "flac", "wav"]

CODECS: tuple[Codec, ...] = get_args(Codec)

_MEDIA_TYPES: dict[Codec, str] = {
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
}

_EXTENSIONS: dict[Codec, str] = {
    "pcm": "pcm",
    "ulaw": "ulaw",
    "alaw": "alaw",
    "mp3": "mp3",
    "opus": "opus",
    "aac": "aac",
    "flac": "flac",
    "wav": "wav",
}

# Sample rates each codec may be asked for (G.711 is defined at 8 kHz only; Ogg Opus
# always runs at 48 kHz; MP3 knows the MPEG-1/2/2.5 rates).
_ALLOWED_RATES: dict[Codec, frozenset[int]] = {
    "pcm": frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000}),
    "wav": frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000}),
    "flac": frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000}),
    "ulaw": frozenset({8000}),
    "alaw": frozenset({8000}),
    "mp3": frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
    "aac": frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
    "opus": frozenset({48000}),
}

# Bitrate bounds in bits per second, for the codecs that take one.
_BITRATE_BOUNDS: dict[Codec, tuple[int, int]] = {
    "mp3": (8_000, 320_000),
    "aac": (16_000, 320_000),
    "opus": (6_000, 510_000),
}


@dataclass(frozen=True)
class OutputFormat:
    """What bytes a client receives."""

    codec: Codec
    """How samples are coded: raw ``pcm`` (s16le), G.711 ``ulaw``/``alaw`` or a container."""
    sample_rate: int
    """Samples per second of the output."""
    bitrate: int | None = None
    """Target bits per second for mp3, aac and opus; None for the others."""

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise UnsupportedFormat(f"Unknown codec '{self.codec}'")
        if self.sample_rate not in _ALLOWED_RATES[self.codec]:
            raise UnsupportedFormat(
                f"Sample rate {self.sample_rate} is not supported for {self.codec}"
            )
        bounds = _BITRATE_BOUNDS.get(self.codec)
        if bounds is None:
            if self.bitrate is not None:
                raise UnsupportedFormat(f"{self.codec} does not take a bitrate")
        elif self.bitrate is None or not bounds[0] <= self.bitrate <= bounds[1]:
            raise UnsupportedFormat(
                f"Bitrate for {self.codec} must be between {bounds[0] // 1000} "
                f"and {bounds[1] // 1000} kbps"
            )
        low_rate_mp3 = self.codec == "mp3" and self.sample_rate < 32000
        if low_rate_mp3 and self.bitrate is not None and self.bitrate > 160_000:
            # MPEG-2/2.5 layer III (the rates below 32 kHz) stops at 160 kbps.
            raise UnsupportedFormat("Bitrate for mp3 below 32 kHz must be at most 160 kbps")

    @property
    def name(self) -> str:
        """ElevenLabs-style name, e.g. ``mp3_44100_128`` or ``pcm_24000``."""
        base = f"{self.codec}_{self.sample_rate}"
        return base if self.bitrate is None else f"{base}_{self.bitrate // 1000}"

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` clients expect for these bytes."""
        return _MEDIA_TYPES[self.codec]

    @property
    def extension(self) -> str:
        """File extension without the dot."""
        return _EXTENSIONS[self.codec]

    @property
    def is_compressed(self) -> bool:
        """True for codecs written through a container (mp3, opus, aac, flac)."""
        return self.codec in ("mp3", "opus", "aac", "flac")


def _elevenlabs_formats() -> dict[str, OutputFormat]:
    formats = [OutputFormat("ulaw", 8000), OutputFormat("alaw", 8000)]
    for rate in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        formats += [OutputFormat("pcm", rate), OutputFormat("wav", rate)]
    formats.append(OutputFormat("mp3", 22050, 32_000))
    formats.append(OutputFormat("mp3", 24000, 48_000))
    formats += [OutputFormat("mp3", 44100, kbps * 1000) for kbps in (32, 64, 96, 128, 192)]
    formats += [OutputFormat("opus", 48000, kbps * 1000) for kbps in (32, 64, 96, 128, 192)]
    return {fmt.name: fmt for fmt in formats}


ELEVENLABS_FORMATS: dict[str, OutputFormat] = _elevenlabs_formats()
"""Every ElevenLabs ``output_format`` name we serve."""

OPENAI_FORMATS: dict[str, OutputFormat] = {
    "mp3": OutputFormat("mp3", 24000, 128_000),
    "opus": OutputFormat("opus", 48000, 64_000),
    "aac": OutputFormat("aac", 24000, 64_000),
    "flac": OutputFormat("flac", 24000),
    "wav": OutputFormat("wav", 24000),
    "pcm": OutputFormat("pcm", 24000),
}
"""OpenAI ``response_format`` values; ``pcm`` is raw 24 kHz s16le as OpenAI sends it."""

DEFAULT_ELEVENLABS_FORMAT = "mp3_44100_128"
DEFAULT_OPENAI_FORMAT = "mp3"


def parse_elevenlabs_format(name: str | None = None) -> OutputFormat:
    """The format an ElevenLabs ``output_format`` (or ``format``) name stands for.

    None or "" means ElevenLabs' own default, ``mp3_44100_128``.
    """
    fmt = ELEVENLABS_FORMATS.get((name or DEFAULT_ELEVENLABS_FORMAT).strip().lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"Unsupported output_format '{(name or '')[:64]}'; supported: "
            + ", ".join(ELEVENLABS_FORMATS)
        )
    return fmt


def parse_openai_format(name: str | None = None) -> OutputFormat:
    """The format an OpenAI ``response_format`` stands for; None or "" means mp3."""
    key = (name or DEFAULT_OPENAI_FORMAT).strip().lower()
    fmt = OPENAI_FORMATS.get(key)
    if fmt is None:
        raise UnsupportedFormat(
            f"Unsupported response_format '{key[:64]}'; supported: " + ", ".join(OPENAI_FORMATS)
        )
    return fmt

"""Output format names: what ElevenLabs and OpenAI clients ask for, and what we refuse."""

from __future__ import annotations

import pytest

import breathvoice.audio
from breathvoice.audio import (
    ELEVENLABS_FORMATS,
    OPENAI_FORMATS,
    OutputFormat,
    parse_elevenlabs_format,
    parse_openai_format,
)
from breathvoice.errors import InvalidRequest, UnsupportedFormat


@pytest.mark.parametrize(
    ("name", "codec", "rate", "bitrate"),
    [
        ("pcm_8000", "pcm", 8000, None),
        ("pcm_16000", "pcm", 16000, None),
        ("pcm_22050", "pcm", 22050, None),
        ("pcm_24000", "pcm", 24000, None),
        ("pcm_44100", "pcm", 44100, None),
        ("pcm_48000", "pcm", 48000, None),
        ("ulaw_8000", "ulaw", 8000, None),
        ("alaw_8000", "alaw", 8000, None),
        ("mp3_22050_32", "mp3", 22050, 32_000),
        ("mp3_44100_64", "mp3", 44100, 64_000),
        ("mp3_44100_128", "mp3", 44100, 128_000),
        ("mp3_44100_192", "mp3", 44100, 192_000),
        ("opus_48000_64", "opus", 48000, 64_000),
        ("wav_24000", "wav", 24000, None),
    ],
)
def test_elevenlabs_names_parse(name: str, codec: str, rate: int, bitrate: int | None) -> None:
    fmt = parse_elevenlabs_format(name)
    assert (fmt.codec, fmt.sample_rate, fmt.bitrate) == (codec, rate, bitrate)
    assert fmt.name == name


def test_elevenlabs_default_is_mp3_44100_128() -> None:
    assert parse_elevenlabs_format(None).name == "mp3_44100_128"
    assert parse_elevenlabs_format("").name == "mp3_44100_128"
    assert parse_elevenlabs_format(" PCM_16000 ").name == "pcm_16000"


def test_every_listed_elevenlabs_name_round_trips() -> None:
    for name, fmt in ELEVENLABS_FORMATS.items():
        assert parse_elevenlabs_format(name) == fmt
        assert fmt.name == name


@pytest.mark.parametrize(
    "name", ["mp3_44100_100000", "pcm_9999999", "pcm_0", "ulaw_16000", "mp3_22050_320",
             "flac_24000", "vorbis_44100", "pcm", "pcm_24000_extra", "mp3_44100_128 x"]
)
def test_unknown_or_absurd_elevenlabs_names_are_refused_with_the_supported_list(
    name: str,
) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse_elevenlabs_format(name)
    assert isinstance(caught.value, InvalidRequest)
    assert caught.value.http_status == 400
    assert "pcm_24000" in caught.value.message
    assert "mp3_22050_32" in caught.value.message


def test_refusal_does_not_echo_a_huge_name() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse_elevenlabs_format("x" * 10_000)
    assert len(caught.value.message) < 1000


@pytest.mark.parametrize(
    ("name", "codec", "rate", "media_type", "extension"),
    [
        ("mp3", "mp3", 24000, "audio/mpeg", "mp3"),
        ("opus", "opus", 48000, "audio/ogg", "opus"),
        ("aac", "aac", 24000, "audio/aac", "aac"),
        ("flac", "flac", 24000, "audio/flac", "flac"),
        ("wav", "wav", 24000, "audio/wav", "wav"),
        ("pcm", "pcm", 24000, "audio/pcm", "pcm"),
    ],
)
def test_openai_response_formats(
    name: str, codec: str, rate: int, media_type: str, extension: str
) -> None:
    fmt = parse_openai_format(name)
    assert (fmt.codec, fmt.sample_rate) == (codec, rate)
    assert fmt.media_type == media_type
    assert fmt.extension == extension


def test_openai_default_is_mp3() -> None:
    assert parse_openai_format(None).codec == "mp3"
    assert parse_openai_format("").codec == "mp3"


def test_openai_unknown_format_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse_openai_format("ogg")
    for name in OPENAI_FORMATS:
        assert name in caught.value.message


def test_g711_media_types() -> None:
    assert parse_elevenlabs_format("ulaw_8000").media_type == "audio/basic"
    assert parse_elevenlabs_format("pcm_16000").media_type == "audio/pcm"
    assert parse_elevenlabs_format("mp3_44100_128").media_type == "audio/mpeg"


@pytest.mark.parametrize(
    ("codec", "rate", "bitrate"),
    [
        ("pcm", 0, None),
        ("pcm", 10_000_000, None),
        ("pcm", 24000, 128_000),
        ("ulaw", 16000, None),
        ("mp3", 44100, None),
        ("mp3", 44100, 10_000_000),
        ("mp3", 44100, 1),
        ("mp3", 22050, 192_000),
        ("opus", 44100, 64_000),
        ("speex", 16000, None),
    ],
)
def test_absurd_formats_cannot_be_built(codec: str, rate: int, bitrate: int | None) -> None:
    with pytest.raises(UnsupportedFormat):
        OutputFormat(codec, rate, bitrate)  # type: ignore[arg-type]


def test_public_api_is_explicit() -> None:
    assert set(breathvoice.audio.__all__) == {
        "ELEVENLABS_FORMATS",
        "FILE_EXTENSIONS",
        "OPENAI_FORMATS",
        "OutputFormat",
        "StreamEncoder",
        "StreamResampler",
        "decode_audio",
        "encode_all",
        "encode_file",
        "float_to_pcm16",
        "float_to_pcm16_bytes",
        "make_encoder",
        "parse_elevenlabs_format",
        "parse_openai_format",
        "pcm16_to_float",
        "resample",
        "wav_bytes",
        "write_wav_file",
    }
    for name in breathvoice.audio.__all__:
        assert getattr(breathvoice.audio, name) is not None

"""Streaming encoders: every format a client may ask for decodes back to the tone we sent."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
import soundfile

from breathvoice.audio import (
    ELEVENLABS_FORMATS,
    OPENAI_FORMATS,
    OutputFormat,
    StreamEncoder,
    encode_all,
    make_encoder,
    parse_elevenlabs_format,
    parse_openai_format,
)

ENGINE_RATE = 24000
TONE_HZ = 440.0
TONE_SECONDS = 1.2
UNEVEN_SPLITS = [700, 5100, 9000, 21000]  # five chunks of different sizes

# The demuxer PyAV reports for each container codec.
CONTAINER_NAMES = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav"}


def tone(seconds: float = TONE_SECONDS) -> np.ndarray:
    t = np.arange(int(seconds * ENGINE_RATE)) / ENGINE_RATE
    return (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def encode_in_chunks(fmt: OutputFormat, samples: np.ndarray) -> bytes:
    encoder = make_encoder(fmt, ENGINE_RATE)
    pieces = [encoder.encode(chunk) for chunk in np.split(samples, UNEVEN_SPLITS)]
    pieces.append(encoder.finish())
    return b"".join(pieces)


def decode_independently(fmt: OutputFormat, data: bytes) -> tuple[np.ndarray, int]:
    """Decode with numpy, libsndfile or FFmpeg: never with the code under test."""
    if fmt.codec == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768, fmt.sample_rate
    if fmt.codec in ("ulaw", "alaw"):
        samples, rate = soundfile.read(
            io.BytesIO(data), format="RAW", subtype=fmt.codec.upper(),
            samplerate=fmt.sample_rate, channels=1, dtype="float32",
        )
        return samples, rate
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.format.name == CONTAINER_NAMES[fmt.codec]
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp", layout="mono")
        planes = [
            converted.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for converted in to_float.resample(frame)
        ]
        rate = stream.codec_context.sample_rate
    return np.concatenate(planes).astype(np.float32), rate


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


ALL_FORMATS = [pytest.param(fmt, id=name) for name, fmt in ELEVENLABS_FORMATS.items()] + [
    pytest.param(fmt, id=f"openai-{name}") for name, fmt in OPENAI_FORMATS.items()
]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_streamed_tone_decodes_at_the_right_rate_length_and_pitch(fmt: OutputFormat) -> None:
    data = encode_in_chunks(fmt, tone())
    samples, rate = decode_independently(fmt, data)
    assert rate == fmt.sample_rate
    # Compressed codecs add priming/padding of a few tens of milliseconds.
    assert abs(len(samples) / rate - TONE_SECONDS) < 0.1
    rms = float(np.sqrt(np.mean(samples**2)))
    assert 0.25 < rms < 0.45  # a 0.5-amplitude sine has an RMS of 0.354
    assert abs(dominant_hz(samples, rate) - TONE_HZ) < 5


@pytest.mark.parametrize(
    "fmt",
    [parse_elevenlabs_format(n) for n in ("mp3_22050_32", "mp3_44100_128", "opus_48000_64")]
    + [parse_openai_format(n) for n in ("mp3", "aac", "flac")],
    ids=lambda fmt: fmt.name,
)
def test_compressed_bytes_flow_before_finish(fmt: OutputFormat) -> None:
    encoder = make_encoder(fmt, ENGINE_RATE)
    early = b"".join(encoder.encode(chunk) for chunk in np.split(tone(0.6), 3))
    assert len(early) > 0
    rest = encoder.finish()
    samples, _ = decode_independently(fmt, early + rest)
    assert abs(len(samples) / fmt.sample_rate - 0.6) < 0.1


def test_mp3_stream_is_bare_mpeg_frames() -> None:
    data = encode_in_chunks(parse_elevenlabs_format("mp3_22050_32"), tone())
    assert not data.startswith(b"ID3")
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # an MPEG audio frame sync


def test_wav_stream_has_an_open_ended_header_and_then_pcm() -> None:
    fmt = parse_openai_format("wav")
    encoder = make_encoder(fmt, ENGINE_RATE)
    first = encoder.encode(tone(0.1))
    assert first[:4] == b"RIFF" and first[8:12] == b"WAVE"
    assert struct.unpack("<I", first[4:8])[0] == 0xFFFFFFFF
    assert struct.unpack("<I", first[40:44])[0] == 0xFFFFFFFF
    assert struct.unpack("<HHI", first[20:28]) == (1, 1, 24000)
    assert len(first) == 44 + 2 * 2400
    assert b"RIFF" not in encoder.encode(tone(0.1)) + encoder.finish()


def test_empty_wav_stream_is_still_a_header() -> None:
    encoder = make_encoder(parse_elevenlabs_format("wav_16000"), ENGINE_RATE)
    assert len(encoder.finish()) == 44


def test_pcm_at_engine_rate_is_the_samples_themselves() -> None:
    samples = tone(0.25)
    data = encode_in_chunks(parse_elevenlabs_format("pcm_24000"), samples)
    expected = np.rint(samples * 32767).astype("<i2").tobytes()
    assert data == expected


@pytest.mark.parametrize("name", ["pcm_22050", "ulaw_8000", "alaw_8000", "wav_44100"])
def test_streaming_gives_the_same_bytes_as_encoding_whole(name: str) -> None:
    fmt = parse_elevenlabs_format(name)
    samples = tone()
    assert encode_in_chunks(fmt, samples) == encode_all(fmt, samples, ENGINE_RATE)


def test_g711_output_is_one_byte_per_sample_at_8_khz() -> None:
    data = encode_in_chunks(parse_elevenlabs_format("ulaw_8000"), tone())
    assert len(data) == int(TONE_SECONDS * 8000)


def test_loud_and_invalid_samples_are_clipped_not_wrapped() -> None:
    loud = np.array([3.0, -3.0, np.nan, np.inf], dtype=np.float32)
    data = encode_all(parse_elevenlabs_format("pcm_24000"), loud, ENGINE_RATE)
    assert np.frombuffer(data, dtype="<i2").tolist() == [32767, -32767, 0, 32767]


@pytest.mark.parametrize("name", ["pcm_16000", "mp3_44100_128"])
def test_finished_or_closed_encoder_refuses_more_audio(name: str) -> None:
    encoder = make_encoder(parse_elevenlabs_format(name), ENGINE_RATE)
    assert isinstance(encoder, StreamEncoder)
    encoder.encode(tone(0.1))
    encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.encode(tone(0.1))
    encoder.close()
    encoder.close()


def test_abandoned_compressed_encoder_can_be_closed() -> None:
    encoder = make_encoder(parse_elevenlabs_format("opus_48000_64"), ENGINE_RATE)
    encoder.encode(tone(0.3))
    encoder.close()
    with pytest.raises(RuntimeError):
        encoder.finish()


@pytest.mark.parametrize(("name", "container"), [
    ("line.wav", "wav"), ("line.mp3", "mp3"), ("line.flac", "flac"),
    ("line.ogg", "ogg"), ("line.opus", "ogg"), ("LINE.WAV", "wav"),
])
def test_encode_file_writes_the_type_its_name_says(name: str, container: str) -> None:
    import io

    import av

    from breathvoice.audio import encode_file

    rate = 24000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * 1.0)) / rate)).astype(np.float32)
    data = encode_file(tone, rate, name)
    with av.open(io.BytesIO(data)) as f:
        assert container in f.format.name
        frames = [fr.to_ndarray() for fr in f.decode(audio=0)]
    total = sum(fr.shape[-1] for fr in frames)
    out_rate = 48000 if container == "ogg" else rate
    assert abs(total / out_rate - 1.0) < 0.1


def test_encode_file_refuses_other_types() -> None:
    from breathvoice.audio import encode_file
    from breathvoice.errors import UnsupportedFormat

    with pytest.raises(UnsupportedFormat):
        encode_file(np.zeros(100, np.float32), 24000, "notes.txt")

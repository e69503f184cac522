"""Audio in and out: output formats, resampling, streaming encoders, WAV files, decoding.

Synthesised speech arrives as mono float32 chunks at the engine rate. For a stream, pick a
format (:func:`parse_elevenlabs_format` / :func:`parse_openai_format`), create an encoder
with :func:`make_encoder` and send what each ``encode()`` returns, then ``finish()``.
For files on disk use :func:`write_wav_file`; for uploads use :func:`decode_audio`.
"""

from breathvoice.audio.decode import decode_audio
from breathvoice.audio.encoders import StreamEncoder, encode_all, make_encoder
from breathvoice.audio.files import FILE_EXTENSIONS, encode_file
from breathvoice.audio.formats import (
    ELEVENLABS_FORMATS,
    OPENAI_FORMATS,
    OutputFormat,
    parse_elevenlabs_format,
    parse_openai_format,
)
from breathvoice.audio.pcm import float_to_pcm16, float_to_pcm16_bytes, pcm16_to_float
from breathvoice.audio.resample import StreamResampler, resample
from breathvoice.audio.wav import wav_bytes, write_wav_file

__all__ = [
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
]

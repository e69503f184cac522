"""Test inputs for voice-group uploads: real audio, good zips, a corpus of hostile zips.

``hostile_zips()`` returns named zips that each break exactly one upload rule (the rest of
the zip is a valid group), and ``HOSTILE_STATUS`` the HTTP status each must get. Both unit
tests and live-server tests use them. ``MeasuringEngine`` is a small real engine whose
conditioning is measured from the reference audio; the fixtures ``engine`` and ``library``
(import them) give a library on it in the folder of the module's ``settings``.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from breathvoice.engines.base import AudioChunk, SynthesisOptions, VoiceState
from breathvoice.settings import Settings
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.selection import DEFAULT_EMOTIONS

RATE = 24000
DEFAULT_MAX_BYTES: int = Settings.model_fields["max_zip_uncompressed_bytes"].default
DEFAULT_MAX_ENTRIES: int = Settings.model_fields["max_zip_entries"].default
DEFAULT_MAX_CLIP_SECONDS: float = Settings.model_fields["max_clip_seconds"].default

BAD_GROUP_IDS = ["../x", "a/b", "", "x" * 200, ".hidden", "a b", "a\\b", "-leading", "é"]


# -- audio --------------------------------------------------------------------------------

def synthetic_voice(seconds: float = 1.5, rate: int = RATE, f0: float = 190.0,
                    seed: int = 0) -> np.ndarray:
    """A voice-like signal: harmonics with vibrato, syllable envelope and breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 3.2 * t) ** 2
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.03)
    signal = 0.25 * voiced * syllables * fade + 0.01 * rng.standard_normal(len(t))
    return np.clip(signal, -1, 1).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@lru_cache(maxsize=64)
def voice_wav(seconds: float = 1.5, rate: int = RATE, seed: int = 0) -> bytes:
    return wav_bytes(synthetic_voice(seconds, rate, 150.0 + 20 * seed, seed), rate)


# -- zips ---------------------------------------------------------------------------------

def make_zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def group_entries(group: str, emotions: Sequence[str] = DEFAULT_EMOTIONS,
                  seconds: float = 1.5, folder: str = "") -> list[tuple[str, bytes]]:
    return [(f"{folder}{group}_{emotion}.wav", voice_wav(seconds, seed=i))
            for i, emotion in enumerate(emotions)]


def good_zip(group: str, emotions: Sequence[str] = DEFAULT_EMOTIONS, *, seconds: float = 1.5,
             folder: str = "", extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """The seed's layout: ``<group>_<emotion>.wav`` per emotion (optionally in ``folder``)."""
    return make_zip([*group_entries(group, emotions, seconds, folder), *extra])


def upload_group(client: TestClient, group: str, data: bytes | None = None) -> dict[str, Any]:
    """Upload ``data`` (default: :func:`good_zip`) as ``group`` through the REST route."""
    archive = data if data is not None else good_zip(group)
    r = client.post("/breathvoice/upload-voice-group", data={"voice_group_id": group},
                    files={"file": (f"{group}.zip", archive)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@dataclass(frozen=True)
class RawEntry:
    """A zip record written byte by byte, so headers can say what zipfile never writes."""

    name: str
    payload: bytes
    """The bytes stored in the zip (already compressed when method is deflate)."""
    file_size: int
    crc: int
    method: int = zipfile.ZIP_STORED
    flags: int = 0
    mode: int = stat.S_IFREG | 0o644


def stored(name: str, data: bytes, **kwargs: int) -> RawEntry:
    return RawEntry(name, data, len(data), zlib.crc32(data), **kwargs)


def raw_zip(entries: Sequence[RawEntry]) -> bytes:
    local, central = bytearray(), bytearray()
    for e in entries:
        name = e.name.encode("utf-8")
        flags = e.flags | 0x800
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, e.method, 0, 0x21, e.crc,
                             len(e.payload), e.file_size, len(name), 0) + name + e.payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 20, 20, flags,
                               e.method, 0, 0x21, e.crc, len(e.payload), e.file_size,
                               len(name), 0, 0, 0, 0, e.mode << 16, offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(local), 0)
    return bytes(local + central + end)


@lru_cache(maxsize=8)
def zeros_deflated(mebibytes: int) -> tuple[bytes, int]:
    """Raw deflate of ``mebibytes`` MiB of zeros, and its CRC-32, built without the zeros.

    After a full flush deflate forgets its history, so every MiB compresses to the same
    bytes and the stream is one block repeated.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    return unit * mebibytes + b"\x03\x00", crc


def _good_raw(group: str) -> list[RawEntry]:
    return [stored(name, data) for name, data in group_entries(group)]


HOSTILE_STATUS: dict[str, int] = {
    "not_a_zip": 400, "truncated_zip": 400, "empty_zip": 400, "only_junk": 400,
    "zip_slip": 400, "absolute_path": 400, "backslash_path": 400, "drive_letter": 400,
    "control_char_name": 400, "symlink": 400, "device_file": 400, "nested_zip": 400,
    "disguised_zip": 400, "text_file": 400, "exe_file": 400, "undecodable_wav": 400,
    "too_short_clip": 400, "too_long_clip": 400, "silent_clip": 400, "encrypted": 400,
    "duplicate_names": 400, "duplicate_names_case": 400, "two_clips_one_emotion": 400,
    "unmatched_name": 400, "nested_folders": 400, "two_top_folders": 400,
    "bad_manifest": 400, "zip_bomb": 413, "lying_header_bomb": 413, "ratio_bomb": 413,
    "too_many_entries": 413,
}


def hostile_zips(max_uncompressed_bytes: int = DEFAULT_MAX_BYTES,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_clip_seconds: float = DEFAULT_MAX_CLIP_SECONDS,
                 group: str = "Evil") -> dict[str, bytes]:
    """Zips that must be refused by a server with these caps (defaults: ``Settings()``)."""
    return dict(_hostile_zips(max_uncompressed_bytes, max_entries, max_clip_seconds, group))


@lru_cache(maxsize=4)
def _hostile_zips(max_uncompressed_bytes: int, max_entries: int, max_clip_seconds: float,
                  group: str) -> dict[str, bytes]:
    good = group_entries(group)
    greeting = good[0][1]
    cap_mib = max_uncompressed_bytes // (1 << 20) + 1
    bomb, bomb_crc = zeros_deflated(cap_mib + 1)
    big_mib = max(4, cap_mib // 4)
    big, big_crc = zeros_deflated(big_mib)
    long_rate = 8000
    return {
        "not_a_zip": greeting,
        "truncated_zip": good_zip(group)[: len(good_zip(group)) // 2],
        "empty_zip": make_zip([]),
        "only_junk": make_zip([("__MACOSX/._x.wav", b"\0" * 10), (".DS_Store", b"\0" * 10)]),
        "zip_slip": make_zip([*good, ("../evil.wav", greeting)]),
        "absolute_path": raw_zip([*_good_raw(group), stored("/etc/evil.wav", greeting)]),
        "backslash_path": raw_zip([*_good_raw(group), stored("..\\evil.wav", greeting)]),
        "drive_letter": raw_zip([*_good_raw(group), stored("C:/evil.wav", greeting)]),
        "control_char_name": raw_zip([*_good_raw(group), stored("x\x07_B1_B2.wav", greeting)]),
        "symlink": raw_zip([*_good_raw(group)[1:], stored(
            f"{group}_greeting.wav", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)]),
        "device_file": raw_zip([*_good_raw(group)[1:], stored(
            f"{group}_greeting.wav", b"", mode=stat.S_IFCHR | 0o644)]),
        "nested_zip": make_zip([*good, ("inner.zip", good_zip("Inner"))]),
        "disguised_zip": make_zip([*good[1:], (f"{group}_greeting.wav", good_zip("Inner"))]),
        "text_file": make_zip([*good, ("readme.txt", b"hello")]),
        "exe_file": make_zip([*good, ("setup.exe", b"MZ\x90\x00" + bytes(60))]),
        "undecodable_wav": make_zip([*good[1:], (f"{group}_greeting.wav",
                                                 np.random.default_rng(1).bytes(40000))]),
        "too_short_clip": make_zip([*good[1:], (f"{group}_greeting.wav", voice_wav(0.2))]),
        "too_long_clip": make_zip([*good[1:], (f"{group}_greeting.wav", voice_wav(
            max_clip_seconds + 5, rate=long_rate))]),
        "silent_clip": make_zip([*good[1:], (f"{group}_greeting.wav",
                                             wav_bytes(np.zeros(RATE * 2, np.float32)))]),
        "encrypted": raw_zip([*_good_raw(group)[1:], stored(
            f"{group}_greeting.wav", greeting, flags=0x1)]),
        "duplicate_names": raw_zip([*_good_raw(group), stored(f"{group}_greeting.wav",
                                                              greeting)]),
        "duplicate_names_case": make_zip([*good, (f"{group.upper()}_GREETING.wav", greeting)]),
        "two_clips_one_emotion": make_zip([*good, (f"Other_{DEFAULT_EMOTIONS[0]}.wav",
                                                   greeting)]),
        "unmatched_name": make_zip([*good, (f"{group}_happy.wav", greeting)]),
        "nested_folders": make_zip([(f"a/b/{n}", d) for n, d in good]),
        "two_top_folders": make_zip([(f"a/{n}", d) for n, d in good[:2]]
                                    + [(f"b/{n}", d) for n, d in good[2:]]),
        "bad_manifest": make_zip([*good, ("manifest.json", b'{"emotions": ["greeting"], '
                                                          b'"unexpected": 1}')]),
        "zip_bomb": raw_zip([*_good_raw(group), RawEntry(
            f"{group}_B1_B2_bomb.wav", bomb, (cap_mib + 1) << 20, bomb_crc,
            zipfile.ZIP_DEFLATED)]),
        "lying_header_bomb": raw_zip([*_good_raw(group)[1:], RawEntry(
            f"{group}_greeting.wav", bomb, min(max_uncompressed_bytes // 2, 0xFFFFFFF0),
            bomb_crc, zipfile.ZIP_DEFLATED)]),
        "ratio_bomb": raw_zip([*_good_raw(group)[1:], RawEntry(
            f"{group}_greeting.wav", big, big_mib << 20, big_crc, zipfile.ZIP_DEFLATED)]),
        "too_many_entries": make_zip([*good] + [(f"pad_{i:04d}.wav", b"RIFF")
                                                for i in range(max_entries + 1)]),
    }


# -- a small real engine ------------------------------------------------------------------

class MeasuringEngine:
    """Conditioning = measured level, length and brightness of the reference clip.

    ``synthesize`` speaks a tone per character whose level and pitch follow the voice, so
    a test can tell which voice spoke.
    """

    sample_rate = 16000

    def __init__(self, name: str = "measuring") -> None:
        self.name = name
        self.prepared = 0

    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        self.prepared += 1
        rms = float(np.sqrt(np.mean(np.square(reference))))
        crossings = float(np.mean(np.abs(np.diff(np.signbit(reference).astype(np.int8)))))
        pitch = 80.0 + crossings * sample_rate / 2
        profile = np.array([rms, len(reference) / sample_rate, pitch], np.float32)
        return VoiceState(self.name, {"profile": profile}, {"method": "cloned"})

    def _stock(self, pitch: float) -> VoiceState:
        return VoiceState(self.name, {"profile": np.array([0.2, 0.0, pitch], np.float32)},
                          {"method": "stock"})

    def default_voice(self) -> VoiceState:
        return self._stock(220.0)

    def stock_voices(self) -> dict[str, VoiceState]:
        return {"jf_alpha": self._stock(260.0), "jf_nezumi": self._stock(300.0),
                "af_heart": self._stock(200.0)}

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        level, _, pitch = (float(v) for v in voice.arrays["profile"])
        t = np.arange(int(0.08 * self.sample_rate / options.speed)) / self.sample_rate
        for sentence in filter(None, (s.strip() for s in text.replace("。", ".").split("."))):
            samples = np.concatenate([
                max(level, 0.05) * np.sin(2 * np.pi * (pitch + (ord(ch) % 7) * 10) * t)
                for ch in sentence
            ]).astype(np.float32)
            yield AudioChunk(samples, self.sample_rate, sentence)


@pytest.fixture
def engine() -> MeasuringEngine:
    return MeasuringEngine()


@pytest.fixture
def library(settings: Settings, engine: MeasuringEngine) -> VoiceLibrary:
    """A library on ``engine``, in the folder of the module's ``settings`` fixture."""
    return VoiceLibrary(settings.voices_dir, engine)

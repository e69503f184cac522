"""``kill -9`` at random moments while the server writes outputs and replaces voice groups.

A real server process (tone engine, so restarts take a second or two) is kept busy by
client threads: single and batch TTS into two groups, overwriting earlier files, and
uploads that replace a voice group. Each round it is killed with SIGKILL at a random
moment; then, with the process dead, the disk must hold no half-written file under a final
name and no broken manifest. The next start must tidy up and still list every group, and
the key's character count must cover every answer that was delivered (characters are
committed before audio is sent). Bounded: about 20 seconds of killing.
"""

from __future__ import annotations

import io
import os
import random
import signal
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
import soundfile as sf

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from breathvoice.voices.manifest import load_manifest
from conftest import LiveServer, start_server, tone_serve_command
from zips import good_zip

KILL_BUDGET_SECONDS = 20.0
MIN_ROUNDS = 3
WORDS = "the river bends slowly past an old mill while rain falls on quiet roofs".split()


def start(data_dir: Path, log: Path) -> LiveServer:
    return start_server(data_dir, log, tone_serve_command(), BREATHVOICE_ENGINE="tone")


@dataclass
class Delivered:
    """Characters of the requests the server answered with success."""

    chars: int = 0
    answers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, chars: int) -> None:
        with self.lock:
            self.chars += chars
            self.answers += 1


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + "."


def busy_clients(server: LiveServer, key: str, delivered: Delivered, stop: threading.Event,
                 seed: int) -> list[threading.Thread]:
    headers = {"xi-api-key": key}
    archives = [good_zip("Crash", seconds=s) for s in (0.8, 1.6)]

    def tts(worker: int) -> None:
        rng = random.Random(seed * 10 + worker)
        while not stop.is_set():
            text = sentence(rng)
            body = {"text": text, "voice_group_id": rng.choice(["Demo", "Crash"]),
                    "filename": f"line_greeting_{rng.randint(0, 4)}.wav"}
            try:
                r = requests.post(f"{server.base_url}/breathvoice/single-tts", json=body,
                                  headers=headers, timeout=10)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                delivered.add(len(text))

    def batch() -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            items = [{"text": sentence(rng), "voice_group_id": "Crash",
                      "filename": f"batch_B1_{rng.randint(0, 3)}.wav"} for _ in range(3)]
            try:
                r = requests.post(f"{server.base_url}/breathvoice/batch-tts",
                                  json={"requests": items}, headers=headers, timeout=10)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                delivered.add(sum(len(item["text"]) for item in items))

    def upload() -> None:
        rng = random.Random(seed + 1)
        while not stop.is_set():
            try:
                requests.post(f"{server.base_url}/breathvoice/upload-voice-group", headers=headers,
                              files={"file": ("Crash.zip", rng.choice(archives))},
                              data={"voice_group_id": "Crash", "overwrite": "true"}, timeout=10)
            except requests.RequestException:
                continue

    return [threading.Thread(target=tts, args=(0,)), threading.Thread(target=tts, args=(1,)),
            threading.Thread(target=batch), threading.Thread(target=upload)]


@contextmanager
def running(threads: list[threading.Thread], stop: threading.Event) -> Iterator[None]:
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


def assert_complete_wav(path: Path) -> None:
    """The RIFF sizes agree with the file and every frame the header promises decodes."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, f"{path}: truncated"
    offset, data_size = 12, None
    while offset + 8 <= len(data):
        chunk_id = data[offset:offset + 4]
        size = struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if chunk_id == b"data":
            data_size = size
            assert offset + 8 + size == len(data), f"{path}: data chunk runs past the end"
            break
        offset += 8 + size + (size & 1)
    assert data_size, f"{path}: no audio"
    samples, _ = sf.read(io.BytesIO(data), dtype="int16")
    assert len(samples) * 2 == data_size, path


def check_disk(data_dir: Path) -> None:
    """What a user (or the next start) would find, with the server dead."""
    outputs = data_dir / "outputs"
    for path in outputs.rglob("*"):
        if path.is_file() and not path.name.startswith(".partial-"):
            assert path.suffix == ".wav" and not path.name.startswith("."), path
            assert_complete_wav(path)
    for group in (data_dir / "voices").iterdir():
        manifest = load_manifest(group)  # raises if missing, truncated or invalid
        hidden = [p.name for p in group.rglob(".*")]
        assert not hidden, f"temporary files in {group.name}: {hidden}"
        for reference in manifest.references.values():
            assert_complete_wav(group / reference.file)
            with np.load(group / reference.conditioning.file, allow_pickle=False) as npz:
                assert npz.files


def check_restarted(server: LiveServer, data_dir: Path, key: str) -> None:
    """The new process put back a group caught mid-swap and dropped what was half made."""
    listed = requests.get(f"{server.base_url}/breathvoice/voice-groups",
                          headers={"xi-api-key": key}, timeout=10).json()
    assert {"Demo", "Crash"} <= set(listed["voice_groups"])
    crash = requests.get(f"{server.base_url}/breathvoice/voice-groups/Crash",
                         headers={"xi-api-key": key}, timeout=10).json()
    assert crash["status"] == "ready"
    assert list((data_dir / ".staging").iterdir()) == []
    assert list((data_dir / "outputs").rglob(".partial-*")) == []
    for group in (data_dir / "voices").iterdir():
        load_manifest(group)


def test_kill_9_leaves_no_half_written_file_and_loses_no_usage(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    store = KeyStore.open(Settings(data_dir=data_dir))
    key, record = store.create("admin")
    store.close()
    server = start(data_dir, log)
    first = requests.post(f"{server.base_url}/breathvoice/upload-voice-group",
                          headers={"xi-api-key": key},
                          files={"file": ("Crash.zip", good_zip("Crash"))},
                          data={"voice_group_id": "Crash"}, timeout=30)
    assert first.status_code == 200, first.text
    delivered = Delivered()
    rng = random.Random(2024)
    started, rounds = time.monotonic(), 0
    while rounds < MIN_ROUNDS or time.monotonic() - started < KILL_BUDGET_SECONDS:
        stop = threading.Event()
        with running(busy_clients(server, key, delivered, stop, seed=rounds), stop):
            time.sleep(rng.uniform(0.4, 1.5))
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
        rounds += 1
        check_disk(data_dir)
        server = start(data_dir, log)
        check_restarted(server, data_dir, key)
    server.process.terminate()
    server.process.wait(timeout=15)

    assert delivered.answers > 0, "nothing was written before the kills: the test proves nothing"
    # The key's files are kept apart, under outputs/_keys/<key id>/.
    assert any((data_dir / "outputs").glob(f"_keys/{record.id}/Crash/line_greeting_*.wav"))
    store = KeyStore.open(Settings(data_dir=data_dir))
    charged = store.get(record.id).chars_used
    store.close()
    assert charged >= delivered.chars, (charged, delivered.chars)

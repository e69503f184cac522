"""Fuzz the voice-group zip importer: any bytes as an upload must end in a clean refusal.

    python bench/fuzz/fuzz_zip_importer.py [-max_total_time=300] [corpus_dir]

Each input is imported (with overwrite) into a scratch data folder through the real
importer, screening, decoding and atomic swap; the engine is a tiny stand-in so the time
goes into the parsing. Anything but a BreathVOICE error is a crash, and so is a group
left half-written or a staging folder left behind.
"""

from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from breathvoice.errors import BreathVoiceError
    from breathvoice.settings import Settings
    from breathvoice.voices.importer import import_voice_group_zip
    from breathvoice.voices.library import VoiceLibrary

from _harness import LevelEngine, run  # noqa: E402

ROOT = Path(tempfile.mkdtemp(prefix="breathvoice-fuzz-data-"))
SETTINGS = Settings(data_dir=ROOT, max_upload_bytes=2 * 1024 * 1024, max_zip_entries=16,
                    max_zip_uncompressed_bytes=8 * 1024 * 1024, max_clip_seconds=5.0)
ENGINE = LevelEngine()
for folder in (SETTINGS.voices_dir, SETTINGS.staging_dir):
    folder.mkdir(parents=True, exist_ok=True)
LIBRARY = VoiceLibrary(SETTINGS.voices_dir, ENGINE, staging_dir=SETTINGS.staging_dir)


def _seed_zip() -> bytes:
    tone = (0.2 * np.sin(np.arange(12000) / 7)).astype(np.float32)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for emotion in ("greeting", "angry"):
            clip = io.BytesIO()
            soundfile.write(clip, tone, 24000, format="WAV", subtype="PCM_16")
            archive.writestr(f"Fuzz_{emotion}.wav", clip.getvalue())
    return out.getvalue()


def test_one_input(data: bytes) -> None:
    try:
        import_voice_group_zip(data, "Fuzz", True, library=LIBRARY, engine=ENGINE,
                               settings=SETTINGS)
    except BreathVoiceError as exc:
        if str(ROOT) in exc.message:
            raise AssertionError("an error message shows a server path") from exc
    leftovers = list(SETTINGS.staging_dir.iterdir())
    if leftovers:
        raise AssertionError(f"staging not cleaned: {leftovers}")


if __name__ == "__main__":
    run(test_one_input, [_seed_zip(), b"PK\x05\x06" + bytes(18)])

"""A ready-to-use demo voice group, spoken by the engine's own stock voices.

Each default emotion gets a short clip synthesised with one stock voice, and that stock
voice itself as conditioning (method ``stock``), so the group works on a fresh install
without any upload.
"""

from __future__ import annotations

import logging

import numpy as np

from breathvoice.audio.wav import wav_bytes
from breathvoice.engines.base import Engine, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError, VoiceGroupExists
from breathvoice.voices.library import VoiceLibrary, staging_area
from breathvoice.voices.manifest import Manifest, save_manifest
from breathvoice.voices.manifest_records import CONDITIONING_DIR, Conditioning, Reference
from breathvoice.voices.selection import DEFAULT_EMOTIONS

log = logging.getLogger(__name__)

DEMO_STOCK_VOICES = {
    "greeting": "jf_alpha",
    "B1_B2": "jf_nezumi",
    "B3_B4": "jf_tebukuro",
    "B5_orgasm": "jf_gongitsune",
}
# Chinese, like the API guide's examples (the stock voices are Japanese, but Japanese G2P
# needs a dictionary download, so the server speaks Chinese and English only).
DEMO_LANGUAGE = "zh"
DEMO_LINES = {
    "greeting": "你好，很高兴认识你。",
    "B1_B2": "嗯，再靠近一点吧。",
    "B3_B4": "哇，真的吗？吓我一跳！",
    "B5_orgasm": "啊，感觉太棒了。",
}


def _voices_for_emotions(engine: Engine) -> dict[str, tuple[str | None, VoiceState]]:
    stock = engine.stock_voices()
    names = sorted(stock)
    chosen: dict[str, tuple[str | None, VoiceState]] = {}
    for emotion in DEFAULT_EMOTIONS:
        name = DEMO_STOCK_VOICES[emotion]
        if name not in stock:
            used = {n for n, _ in chosen.values()}
            name = next((n for n in names if n not in used), names[0] if names else "")
        if name:
            base = stock[name]
            chosen[emotion] = (name, VoiceState(
                base.engine, base.arrays, {**base.info, "method": "stock", "stock_voice": name}
            ))
        else:
            chosen[emotion] = (None, engine.default_voice())
    return chosen


def _speak(engine: Engine, text: str, voice: VoiceState, language: str) -> np.ndarray:
    chunks = [c.samples for c in engine.synthesize(text, voice, SynthesisOptions(
        language=language))]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if len(samples) == 0:
        raise EngineError("the engine produced no audio for the demo voice group")
    return samples


def ensure_demo_group(library: VoiceLibrary, engine: Engine, group_id: str = "Demo") -> bool:
    """Create the demo group unless a folder of that name exists; True if it was created."""
    with library.group_lock(group_id):
        if library.occupied(group_id):
            if not library.exists(group_id):
                log.warning("voice group %r exists but is unusable; left as it is", group_id)
            return False
        with staging_area(library.staging_dir) as work:
            group_dir = work / group_id
            (group_dir / CONDITIONING_DIR).mkdir(parents=True)
            references: dict[str, Reference] = {}
            for emotion, (_, voice) in _voices_for_emotions(engine).items():
                samples = _speak(engine, DEMO_LINES[emotion], voice, DEMO_LANGUAGE)
                file = f"{group_id}_{emotion}.wav"
                (group_dir / file).write_bytes(wav_bytes(samples, engine.sample_rate))
                npz = f"{CONDITIONING_DIR}/{emotion}.npz"
                voice.save(group_dir / npz)
                references[emotion] = Reference(
                    file=file, duration_s=round(len(samples) / engine.sample_rate, 3),
                    sample_rate=engine.sample_rate,
                    conditioning=Conditioning.from_state(voice, npz),
                )
            save_manifest(group_dir, Manifest(voice_group_id=group_id, references=references))
            try:
                library.install_group(group_id, group_dir, overwrite=False)
            except VoiceGroupExists:
                return False
    log.info("created the demo voice group %r", group_id)
    return True

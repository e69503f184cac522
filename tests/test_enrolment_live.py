"""Voice matching on the real Kokoro engine, end to end, with a tiny search budget.

The engine honours a matched voice's controls and speaks stock voices as before; an
uploaded group speaks with its nearest stock voice at once, says so, and is matched in
the background; a restart keeps what was matched.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi import FastAPI
from fastapi.testclient import TestClient

from breathvoice.app import create_app
from breathvoice.engines.base import SynthesisOptions, VoiceState
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.engines.kokoro.model import (
    add_duration_output,
    read_model_bytes,
)
from breathvoice.engines.onnx_runtime import import_onnxruntime
from breathvoice.engines.registry import ENGINES
from breathvoice.errors import EngineError
from breathvoice.matching.analysis import pitch_track
from breathvoice.settings import Settings
from engine_fixture import kokoro_engine, shared_kokoro_engine, shared_model
from zips import make_zip, wav_bytes

__all__ = ["kokoro_engine"]
pytestmark = pytest.mark.slow

RATE = 24000
LINE = "你好，很高兴认识你。"


def speak(engine: KokoroEngine, voice: VoiceState, text: str = LINE,
          speed: float = 1.0) -> np.ndarray:
    chunks = engine.synthesize(text, voice, SynthesisOptions(speed=speed, language="zh"))
    return np.concatenate([chunk.samples for chunk in chunks])


def median_pitch(audio: np.ndarray) -> float:
    f0 = pitch_track(audio, RATE)
    return float(np.median(f0[f0 > 0]))


def test_stock_voices_are_spoken_as_before() -> None:
    """The served graph's edits leave the stock model's output bit for bit (onnxruntime;
    OpenVINO's is compared with it in test_engine_openvino.py)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    plain = ort.InferenceSession(add_duration_output(read_model_bytes()), options,
                                 providers=["CPUExecutionProvider"])
    model = shared_model("onnxruntime")
    tokens = [model.vocab[p] for p in "nˈaɪs tə mˈit juː."]
    style = model.voices["jm_kumo"]
    before, frames = plain.run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style[len(tokens) - 1].reshape(1, 256),
        "speed": np.array([1.0], dtype=np.float32)})
    now, durations = model.run(tokens, style, 1.0)
    assert np.array_equal(durations, frames.ravel())
    # neutral pitch controls multiply the curve by exactly 1
    assert np.array_equal(now, before.ravel())


def test_a_matched_voice_s_controls_are_honoured(kokoro_engine: KokoroEngine) -> None:
    stock = kokoro_engine.stock_voices()["jf_alpha"]
    matched = VoiceState("kokoro", arrays={"style": stock.arrays["style"],
                                           "eq": np.zeros(24, np.float32)},
                         info={"method": "matched", "pitch_shift": float(np.log(0.7)),
                               "pitch_range": 1.0, "speed": 1.3, "gain_db": -6.0})
    plain, moved = speak(kokoro_engine, stock), speak(kokoro_engine, matched)
    assert len(moved) / len(plain) == pytest.approx(1 / 1.3, rel=0.12)
    assert median_pitch(moved) / median_pitch(plain) == pytest.approx(0.7, rel=0.08)
    level = 20 * np.log10(np.sqrt(np.mean(moved**2)) / np.sqrt(np.mean(plain**2)))
    assert level == pytest.approx(-6.0, abs=1.5)


def test_timbre_offsets_move_each_style_layer_and_default_to_the_stock_voice(
    kokoro_engine: KokoroEngine,
) -> None:
    stock = kokoro_engine.stock_voices()["jm_kumo"]
    layers = kokoro_engine.model.timbre_layers
    assert layers == 58  # 2 in the encoder, 8 in the decoder, 48 in the generator

    def with_offsets(offsets: np.ndarray) -> VoiceState:
        return VoiceState("kokoro", {**stock.arrays, "timbre_offsets": offsets}, stock.info)

    plain = speak(kokoro_engine, stock)
    zeros = np.zeros((layers, 128), np.float32)
    assert np.array_equal(speak(kokoro_engine, with_offsets(zeros)), plain)
    moved = zeros.copy()
    moved[::2] = 0.05  # every other layer
    heard = speak(kokoro_engine, with_offsets(moved))
    assert len(heard) == len(plain)  # durations come from the prosody half
    assert median_pitch(heard) == pytest.approx(median_pitch(plain), rel=0.03)
    assert np.abs(heard - plain).max() > 0.01
    with pytest.raises(EngineError):
        speak(kokoro_engine, with_offsets(zeros[:10]))


@pytest.fixture
def server_app(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], FastAPI]:
    """Builds apps on the shared engine, matching with a tiny budget."""
    monkeypatch.setitem(ENGINES, "kokoro", lambda _: shared_kokoro_engine())

    def build(data_dir: Path) -> FastAPI:
        return create_app(Settings(data_dir=data_dir, create_demo_group=False,
                                   engine_workers=1, enrolment_budget_seconds=1.0,
                                   enrolment_workers=1, enrolment_nice=0))

    return build


def say(client: TestClient, filename: str) -> tuple[str, float]:
    r = client.post("/breathvoice/single-tts", json={
        "text": "你好。", "filename": filename, "voice_group_id": "Kumo",
        "return_audio": True})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["voice_method"] == r.headers["X-Voice-Method"]
    audio, rate = soundfile.read(io.BytesIO(base64.b64decode(result["audio_data"])))
    assert rate == RATE and np.abs(audio).max() > 0.05
    return result["voice_method"], len(audio) / rate


def test_an_upload_speaks_at_once_and_is_matched_in_the_background(
        server_app: Callable[[Path], FastAPI], kokoro_engine: KokoroEngine, tmp_path: Path) -> None:
    kumo = kokoro_engine.stock_voices()["jm_kumo"]
    clips = make_zip([("Kumo_greeting.wav", wav_bytes(speak(kokoro_engine, kumo))),
                      ("Kumo_B1_B2.wav", wav_bytes(speak(kokoro_engine, kumo, speed=1.35)))])
    with TestClient(server_app(tmp_path)) as client:
        r = client.post("/breathvoice/upload-voice-group",
                        files={"file": ("Kumo.zip", clips)}, data={"voice_group_id": "Kumo"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "incomplete"
        assert r.json()["enrolment"]["status"] == "enrolling"
        assert say(client, "greeting_001.wav")[0] == "stock"

        progress: list[float] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            enrolment = client.get("/breathvoice/voice-groups/Kumo").json()["enrolment"]
            progress.append(enrolment["progress"])
            if enrolment["status"] != "enrolling":
                break
            time.sleep(0.2)
        assert enrolment["status"] == "ready" and enrolment["method"] == "matched"
        assert progress == sorted(progress) and progress[-1] == 1.0
        assert enrolment["similarity"] > 0.6
        # each voice was heard in both languages and kept as clear as the stock voice: no
        # more above its error than 2 points, one unit of the guard's text (a character of
        # 39, a word of 32) or the stock voice's own noise, whichever is most
        for check in enrolment["intelligibility"].values():
            assert sorted(check["error"]) == ["en", "zh"]
            for lang, unit in (("en", 1 / 32), ("zh", 1 / 39)):
                tolerance = max(0.02, unit, check.get("stock_noise", {}).get(lang, 0.0))
                assert check["tolerance"][lang] == pytest.approx(tolerance, abs=0.001)
                assert check["error"][lang] <= check["stock_error"][lang] + tolerance + 1e-3
        assert sorted(enrolment["intelligibility"]) == ["B1_B2", "greeting"]
        assert enrolment["intelligibility"]["B1_B2"]["shrink"]["pace"] > 0

        method, greeting_seconds = say(client, "greeting_002.wav")
        assert method == "matched"
        assert say(client, "B1_002.wav")[1] < greeting_seconds  # the faster clip's pace
    matched = tmp_path / "voices" / "Kumo" / "conditioning" / "matched"
    kept = {p.name: p.stat().st_mtime_ns for p in matched.iterdir()}
    assert sorted(kept) == ["B1_B2.npz", "greeting.npz"]

    with TestClient(server_app(tmp_path)) as client:
        details = client.get("/breathvoice/voice-groups/Kumo").json()
        assert details["enrolment"] == {**enrolment, "progress": 1.0}
        assert client.app.state.services.library.enrolment.progress("Kumo") is None
    assert {p.name: p.stat().st_mtime_ns for p in matched.iterdir()} == kept

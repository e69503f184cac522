"""The Kokoro graph on OpenVINO sounds like it does on onnxruntime, and stops when asked."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from audio_checks import band_levels
from breathvoice.engines.kokoro.controls import TIMBRE_OFFSETS_INPUT, control_inputs
from breathvoice.engines.kokoro.openvino_session import openvino_supported
from breathvoice.errors import EngineError
from engine_fixture import shared_model as model

pytestmark = pytest.mark.skipif(not openvino_supported(), reason="no bfloat16 CPU here")

PHRASES = ("θˈæŋk jˈuː", "nˈaɪs tə mˈit juː.",
           "ðə kwˈɪk bɹˈaʊn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ.")


@pytest.mark.slow
@pytest.mark.parametrize("phonemes", PHRASES)
def test_openvino_speaks_like_onnxruntime(phonemes: str) -> None:
    ov, ort = model("openvino"), model("onnxruntime")
    assert (ov.runtime, ort.runtime) == ("openvino", "onnxruntime")
    style = ort.voices["jf_alpha"]
    tokens = [ort.vocab[p] for p in phonemes]
    heard, frames = ov.run(tokens, style, 1.0)
    reference, reference_frames = ort.run(tokens, style, 1.0)
    # the same phonemes as long, give or take a frame where a duration rounds the other
    # way, and the same timbre: every 750 Hz band of the speech within 3 dB (the source
    # phase of the edge bins left as OpenVINO computes it put them up to 8.5 dB apart)
    assert np.abs(frames - reference_frames).max() <= 1
    assert abs(len(heard) - len(reference)) <= 2 * 600
    assert np.sqrt(np.mean(heard**2)) > 0.01
    assert np.abs(band_levels(heard) - band_levels(reference)).max() < 3.0


@pytest.mark.slow
def test_openvino_honours_the_voice_controls() -> None:
    ov = model("openvino")
    style = ov.voices["jf_alpha"]
    tokens = [ov.vocab[p] for p in PHRASES[0]]
    stock, _ = ov.run(tokens, style, 1.0)
    again, _ = ov.run(tokens, style, 1.0, controls=control_inputs(0.0, 1.0))
    assert np.array_equal(stock, again)  # the defaults are the stock model's
    shifted, _ = ov.run(tokens, style, 1.0, controls=control_inputs(np.log(0.7), 1.0))
    offsets = np.full(ov.session.defaults[TIMBRE_OFFSETS_INPUT].shape, 0.05, np.float32)
    coloured, _ = ov.run(tokens, style, 1.0, controls=control_inputs(0.0, 1.0, offsets))
    for moved in (shifted, coloured):
        n = min(len(moved), len(stock))
        assert not np.allclose(moved[:n], stock[:n], atol=1e-3)


@pytest.mark.slow
def test_a_cancelled_openvino_call_waits_for_none_and_later_calls_run() -> None:
    """A call cancelled while another runs ends as soon as that one does, without running;
    one cancelled while running finishes (see RunOptions); later calls of any length run."""
    ov = model("openvino")
    style = ov.voices["jf_alpha"]
    long = [ov.vocab[p] for p in PHRASES[2] * 3]
    ended: dict[str, tuple[str, float]] = {}

    def call(name: str, tokens: list[int], options: object) -> None:
        try:
            ov.run(tokens, style, 1.0, options)
            ended[name] = ("finished", time.perf_counter())
        except EngineError:
            ended[name] = ("cancelled", time.perf_counter())

    running, waiting = ov.new_run_options(), ov.new_run_options()
    first = threading.Thread(target=call, args=("running", long, running))
    second = threading.Thread(target=call, args=("waiting", long, waiting))
    first.start()
    time.sleep(0.1)
    second.start()
    time.sleep(0.1)
    running.terminate = waiting.terminate = True
    first.join(timeout=30)
    second.join(timeout=30)
    assert ended["running"][0] == "finished"
    assert ended["waiting"][0] == "cancelled"
    assert ended["waiting"][1] - ended["running"][1] < 0.05  # it never ran
    for tokens in (long[:10], long, long[:33]):
        audio, frames = ov.run(tokens, style, 1.0)
        assert len(audio) == int(frames.sum()) * 600 and np.abs(audio).max() > 0.01

"""One model call of the Kokoro engine: a window of phonemes spoken in one voice.

:class:`Controls` is how a voice applies to every call of one request (its style, the
graph's control inputs, a speed in range, whether its audio is coloured). :func:`speak`
runs the model on a window, trims the model's edge silence, colours the audio of a matched
voice, adds the pause the window's punctuation calls for and, when asked, times each
character. A cancelled request stops the model mid-call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from breathvoice.engines.base import (
    AudioChunk,
    CancelToken,
    FloatAudio,
    SynthesisOptions,
    VoiceState,
)
from breathvoice.engines.kokoro.alignment import char_alignment
from breathvoice.engines.kokoro.controls import (
    DECODER_DIMS,
    TIMBRE_OFFSETS_INPUT,
    apply_colour,
    voice_inputs,
)
from breathvoice.engines.kokoro.model import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    IntArray,
    KokoroModel,
)
from breathvoice.engines.kokoro.phoneme_spans import PhonemeSpan
from breathvoice.engines.kokoro.text import Pause, has_han, pause_after
from breathvoice.errors import EngineError

log = logging.getLogger(__name__)

PAUSE_SECONDS: dict[Pause, float] = {"sentence": 0.25, "clause": 0.1, "none": 0.0}
MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class Controls:
    """How one synthesis call applies a voice: its style, control inputs and colour."""

    voice: VoiceState
    style: FloatAudio
    speed: float
    inputs: dict[str, Any] | None
    """Control inputs of the model (pitch, timbre); None keeps the stock model's."""
    tonal_inputs: dict[str, Any] | None
    """The same for Chinese speech (at least the tonal minimum of pitch range)."""
    coloured: bool
    """The voice asks for a tone correction or gain on its audio."""

    @classmethod
    def of(cls, voice: VoiceState, style: FloatAudio, requested_speed: float) -> Controls:
        info = voice.info
        speed = float(requested_speed) * float(info.get("speed", 1.0))
        return cls(
            voice=voice,
            style=style,
            speed=min(MAX_SPEED, max(MIN_SPEED, speed)),
            inputs=voice_inputs(voice),
            tonal_inputs=voice_inputs(voice, tonal=True),
            coloured="eq" in voice.arrays or bool(float(info.get("gain_db", 0.0))),
        )


def style_of(voice: VoiceState, engine: str, model: KokoroModel) -> FloatAudio:
    """The voice's style vectors, checked to fit ``model`` (prepared by engine ``engine``)."""
    if voice.engine != engine:
        raise EngineError(f"this voice was prepared for the '{voice.engine}' engine")
    style = voice.arrays.get("style")
    if style is None or style.size < 256 or style.size % 256:
        raise EngineError("this voice has no usable Kokoro style")
    offsets = voice.arrays.get(TIMBRE_OFFSETS_INPUT)
    if offsets is not None and offsets.shape != (model.timbre_layers, DECODER_DIMS):
        raise EngineError("this voice's timbre offsets do not fit the Kokoro model")
    return np.asarray(style, dtype=np.float32).reshape(-1, 1, 256)


def speak(
    model: KokoroModel,
    text: str,
    clean: str,
    window: list[PhonemeSpan],
    controls: Controls,
    options: SynthesisOptions,
    crop: bool = False,
) -> AudioChunk | None:
    """One model call; None when cancelled meanwhile. With ``crop``, only the frames near
    the speech are decoded (a stream's first chunk: :mod:`~.crop`)."""
    # kokoro_onnx imports onnxruntime: only once the model loader has set it up
    from kokoro_onnx.sliding import token_edges
    from kokoro_onnx.trim import trim as trim_silence

    vocab = model.vocab
    tokens = [vocab[p] for span in window for p in span.phonemes]
    speed = controls.speed
    start, end = window[0].start, window[-1].end
    inputs = controls.tonal_inputs if has_han(clean[start:end]) else controls.inputs
    result = _run(model, tokens, controls.style, speed, options.cancel, inputs, crop)
    if result is None:
        return None
    raw, duration, first_frame = result
    voiced, (head, _) = trim_silence(raw)
    if len(voiced) == 0:
        voiced, head = raw, 0
    if controls.coloured:
        voiced = apply_colour(voiced, SAMPLE_RATE, controls.voice)
    pause = int(PAUSE_SECONDS[pause_after(clean[start:end])] / speed * SAMPLE_RATE)
    samples = np.concatenate([voiced, np.zeros(pause, dtype=np.float32)])
    alignment = None
    if options.with_alignment:
        frames = int(duration.sum())
        edges = token_edges(duration, frames * SAMPLES_PER_FRAME)
        edges = edges - first_frame * SAMPLES_PER_FRAME - int(head)
        alignment = char_alignment(text, window, edges, len(voiced), len(samples))
    return AudioChunk(samples, SAMPLE_RATE, text=text[start:end], alignment=alignment)


def _run(
    model: KokoroModel,
    tokens: list[int],
    style: FloatAudio,
    speed: float,
    cancel: CancelToken | None,
    inputs: dict[str, Any] | None = None,
    crop: bool = False,
) -> tuple[FloatAudio, IntArray, int] | None:
    run_options = model.new_run_options()

    def abort() -> None:
        run_options.terminate = True

    if cancel is not None:
        cancel.on_cancel(abort)
    try:
        return model.run_cropped(tokens, style, speed, run_options, inputs, crop)
    except Exception as exc:
        if cancel is not None and cancel.cancelled:
            return None
        log.exception("Kokoro model call failed")
        raise EngineError("speech synthesis failed") from exc
    finally:
        if cancel is not None:
            cancel.remove(abort)

"""What the recogniser writes, and what is measured on it: not Whisper's echo of its own
prompt, and no words counted from a clip it could not make out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from breathvoice.engines.base import VoiceState
from breathvoice.matching.analysis import Prosody
from breathvoice.matching.moves import RATE_GAIN, emotion_move
from breathvoice.qa.recognise import Listener, Recogniser, Transcript


class EchoingModel:
    """Answers a prompted Chinese request with the prompt, as Whisper base sometimes does."""

    def __init__(self, said: str) -> None:
        self.said = said
        self.prompts: list[str | None] = []

    def transcribe(self, audio: Any, language: str | None = None, initial_prompt: str | None = None,
                   **_: Any) -> tuple[list[Any], Any]:  # fmt: skip
        self.prompts.append(initial_prompt)
        text = initial_prompt if initial_prompt else self.said
        return ([SimpleNamespace(text=text, avg_logprob=-0.2)],
                SimpleNamespace(language=language or "zh"))


def recognise(model: EchoingModel, language: str) -> str:
    recogniser = Recogniser(threads=1)
    recogniser._model = model
    try:
        return recogniser.transcribe(np.zeros(16000, np.float32), 16000, language).text
    finally:
        recogniser.close()


def test_an_echoed_prompt_is_recognised_again_without_it() -> None:
    model = EchoingModel("去机场的火车每二十分钟发一班。")
    assert recognise(model, "zh") == "去机场的火车每二十分钟发一班。"
    assert model.prompts[0] and model.prompts[1] is None


def test_english_is_recognised_once_without_a_prompt() -> None:
    model = EchoingModel("The train leaves every twenty minutes.")
    assert recognise(model, "en") == "The train leaves every twenty minutes."
    assert model.prompts == [None]


class Unsure:
    """A recogniser that writes words it is unsure of, as Whisper base does for speech in
    a language it cannot make out."""

    def __init__(self, log_probability: float) -> None:
        self.log_probability = log_probability

    def transcribe(self, samples: Any, sample_rate: int, language: str | None = None) -> Any:
        return Transcript(text="may every country forn into the", language=language or "en",
                          seconds=1.0, log_probability=self.log_probability)


def test_a_clip_the_recogniser_cannot_make_out_has_no_words_to_count() -> None:
    listener = Listener.__new__(Listener)
    for sureness, expected in ((-0.3, "may every country forn into the"), (-0.8, "")):
        listener.recogniser = Unsure(sureness)  # type: ignore[assignment]
        assert listener.hear(np.zeros(16000, np.float32), 16000, None) == (expected, "en")
    # renders in a language asked for are always written out (the guard scores them)
    assert listener.hear(np.zeros(16000, np.float32), 16000, "en")[0]


def test_the_pace_of_an_unclear_clip_comes_from_its_rhythm() -> None:
    """An emotion clip whose words were counted moves the pace by their rate; one the
    recogniser could not make out (pace 0) by its rhythm, not by made-up words."""
    base = VoiceState(engine="kokoro", info={
        "reference_prosody": Prosody(200.0, 6.0, 5.0, -20.0).as_dict(), "reference_pace": 4.0,
        "speed": 1.0, "pitch_shift": 0.0, "pitch_range": 1.0, "gain_db": 0.0})
    slower = Prosody(200.0, 6.0, 4.5, -20.0)  # its rhythm 0.9 of the main clip's
    _, counted = emotion_move(base, slower, 3.0, 0.0)
    assert counted["pace"] == pytest.approx(0.75)
    moved, unclear = emotion_move(base, slower, 0.0, 0.0)
    assert unclear["pace"] == pytest.approx(0.9 ** RATE_GAIN) and unclear["pace"] < 0.9
    assert moved.info["speed"] == pytest.approx(round(0.9 ** RATE_GAIN, 4))

"""The recogniser does not take Whisper's echo of its own prompt for what was said."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from breathvoice.qa.recognise import Recogniser


class EchoingModel:
    """Answers a prompted Chinese request with the prompt, as Whisper base sometimes does."""

    def __init__(self, said: str) -> None:
        self.said = said
        self.prompts: list[str | None] = []

    def transcribe(self, audio: Any, language: str | None = None, initial_prompt: str | None = None,
                   **_: Any) -> tuple[list[Any], Any]:  # fmt: skip
        self.prompts.append(initial_prompt)
        text = initial_prompt if initial_prompt else self.said
        return [SimpleNamespace(text=text)], SimpleNamespace(language=language or "zh")


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

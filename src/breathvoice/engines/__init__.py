"""Speech engines: the :class:`Engine` protocol and its implementations."""

from breathvoice.engines.base import (
    AudioChunk,
    CancelToken,
    CharAlignment,
    Engine,
    SynthesisOptions,
    VoiceState,
)

__all__ = [
    "AudioChunk",
    "CancelToken",
    "CharAlignment",
    "Engine",
    "SynthesisOptions",
    "VoiceState",
]

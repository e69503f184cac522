"""Engines by name: ``load_engine(settings)`` builds the one the settings ask for."""

from __future__ import annotations

from collections.abc import Callable

from breathvoice.engines.base import Engine
from breathvoice.errors import EngineError
from breathvoice.settings import Settings

EngineFactory = Callable[[Settings], Engine]


def _kokoro(settings: Settings) -> Engine:
    from breathvoice.engines.kokoro.engine import KokoroEngine

    return KokoroEngine(onnx_threads=settings.onnx_threads,
                        short_first_chunk=settings.scheduler_policy == "responsive")


ENGINES: dict[str, EngineFactory] = {"kokoro": _kokoro}
"""Name → factory. A plug-in engine adds itself here."""


def available_engines() -> list[str]:
    return sorted(ENGINES)


def load_engine(settings: Settings) -> Engine:
    """Build the engine named by ``settings.engine`` (slow: loads the model)."""
    factory = ENGINES.get(settings.engine)
    if factory is None:
        known = ", ".join(available_engines())
        raise EngineError(f"unknown engine '{settings.engine}'; available: {known}")
    return factory(settings)

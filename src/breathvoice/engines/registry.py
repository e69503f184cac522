"""Engines by name: ``load_engine(settings)`` builds the one the settings ask for.

A name of the form ``package.module:factory`` names a plug-in outside this package: the
factory is imported and called with the settings (every process that speaks, such as a
cluster's engine replicas, imports it the same way).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from breathvoice.engines.base import Engine
from breathvoice.errors import EngineError
from breathvoice.settings import Settings

EngineFactory = Callable[[Settings], Engine]


def _kokoro(settings: Settings) -> Engine:
    from breathvoice.engines.kokoro.engine import KokoroEngine

    return KokoroEngine(onnx_threads=settings.onnx_threads, runtime=settings.engine_runtime,
                        short_first_chunk=settings.scheduler_policy == "responsive")


ENGINES: dict[str, EngineFactory] = {"kokoro": _kokoro}
"""Name → factory. A plug-in engine adds itself here."""


def available_engines() -> list[str]:
    return sorted(ENGINES)


def load_engine(settings: Settings) -> Engine:
    """Build the engine named by ``settings.engine`` (slow: loads the model)."""
    factory = ENGINES.get(settings.engine) or _plugin(settings.engine)
    if factory is None:
        known = ", ".join(available_engines())
        raise EngineError(f"unknown engine '{settings.engine}'; available: {known}")
    return factory(settings)


def _plugin(name: str) -> EngineFactory | None:
    module_name, _, attribute = name.partition(":")
    if not attribute:
        return None
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise EngineError(f"engine plug-in '{name}' cannot be loaded") from exc
    return factory if callable(factory) else None

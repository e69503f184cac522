"""One real Kokoro engine for the whole test run.

Import the fixture into a test module (``from engine_fixture import kokoro_engine``); the
engine itself is built once per process, however many modules use it.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.engines.kokoro.model import KokoroModel, load_kokoro_model


@lru_cache(maxsize=1)
def shared_kokoro_engine() -> KokoroEngine:
    """The engine as the default settings load it (on onnxruntime)."""
    return KokoroEngine()


@lru_cache(maxsize=2)
def shared_model(runtime: str) -> KokoroModel:
    """The engine's model on one runtime (``onnxruntime`` or ``openvino``)."""
    return load_kokoro_model(0, runtime)


@pytest.fixture(scope="session")
def kokoro_engine() -> KokoroEngine:
    return shared_kokoro_engine()

"""onnxruntime, imported the one way every model here is loaded."""

from __future__ import annotations

import os
from types import ModuleType


def import_onnxruntime() -> ModuleType:
    """Import onnxruntime with its telemetry off.

    The PyPI builds write a device id under ``~/.cache`` when imported unless
    ``ORT_DISABLE_TELEMETRY`` is set first; the server must not write in the user's home.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    module: ModuleType = onnxruntime
    return module

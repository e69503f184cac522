"""BreathVOICE: a self-hosted voice service.

Voice groups (a character with one reference clip per emotion), script lines to audio
files, multi-context WebSocket streaming on the ElevenLabs wire protocol.
"""

import os
import sys

# onnxruntime writes a device id under the user's home on import unless told not to, and
# OpenVINO's usage statistics (openvino_telemetry, loaded by ``import openvino`` however it
# is reached) one under ~/intel; the server writes only inside its data folder.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

__all__ = ["__version__"]

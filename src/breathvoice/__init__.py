"""BreathVOICE: a self-hosted voice service.

Voice groups (a character with one reference clip per emotion), script lines to audio
files, multi-context WebSocket streaming on the ElevenLabs wire protocol.
"""

import os

# onnxruntime writes a device id under the user's home on import unless told not to; the
# server writes only inside its data folder.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"

__all__ = ["__version__"]

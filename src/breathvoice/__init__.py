"""BreathVOICE: a self-hosted voice service.

Voice groups (a character with one reference clip per emotion), script lines to audio
files, multi-context WebSocket streaming on the ElevenLabs wire protocol.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""The engine the benches score matched voices with: the server's own ``KokoroEngine``.

The served engine honours a matched voice's controls itself (pitch inputs in the model
call, ``info["speed"]`` times the requested speed, tone correction and gain on each
chunk), so the benches hear exactly what the server serves. The name is kept for the
scripts that import it.
"""

from __future__ import annotations

from breathvoice.engines.kokoro.engine import KokoroEngine

ControlledKokoroEngine = KokoroEngine

__all__ = ["ControlledKokoroEngine"]

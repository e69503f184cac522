"""What happens when live demand is over what the engine makes in real time.

Each live job (a socket context's text, a streamed or single request) is a listener
waiting for audio at one audio-second per second. The engine's real-time capacity is how
many such listeners it keeps up with: the audio-seconds per wall-second a worker makes
(measured on live chunks as they are made, so it follows the load of the machine) times
the workers. ``max_live_jobs`` fixes the number instead.

- ``degrade`` (default): every job is accepted; first chunks go first and running jobs
  take turns, so everyone slows down evenly.
- ``reject``: a new live job is refused with :class:`~breathvoice.errors.ServerBusy`
  (HTTP 503 with ``Retry-After``, socket error ``SERVER_BUSY``) while as many live jobs
  as the capacity holds are under way.
"""

from __future__ import annotations

import math
import threading
from typing import Literal

from breathvoice.errors import ServerBusy

AdmissionMode = Literal["degrade", "reject"]
SMOOTHING = 0.2
MIN_SAMPLES = 3


class Admission:
    def __init__(self, mode: AdmissionMode = "degrade", workers: int = 1,
                 max_live_jobs: int = 0) -> None:
        self.mode = mode
        self._workers = workers
        self._fixed = max_live_jobs
        self._speed = 0.0
        self._samples = 0
        self._lock = threading.Lock()

    def record(self, audio_seconds: float, wall_seconds: float) -> None:
        """A worker made ``audio_seconds`` of live audio in ``wall_seconds``."""
        if audio_seconds <= 0 or wall_seconds <= 0:
            return
        speed = audio_seconds / wall_seconds
        with self._lock:
            self._samples += 1
            weight = 1.0 if self._samples == 1 else SMOOTHING
            self._speed += weight * (speed - self._speed)

    @property
    def capacity(self) -> int | None:
        """Live jobs the engine keeps up with; None while unknown."""
        if self._fixed:
            return self._fixed
        with self._lock:
            if self._samples < MIN_SAMPLES:
                return None
            return max(1, math.floor(self._speed * self._workers))

    def check(self, live_jobs: int) -> None:
        """Raise ServerBusy if one more live job is over capacity (``reject`` only)."""
        capacity = self.capacity
        if self.mode != "reject" or capacity is None or live_jobs < capacity:
            return
        raise ServerBusy(
            f"the server is at its real-time capacity ({live_jobs} live requests being "
            "spoken); retry shortly",
            retry_after=math.ceil(live_jobs / capacity),
        )

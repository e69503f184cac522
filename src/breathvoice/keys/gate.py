"""One WebSocket's account with its key: characters charged and slots held per generation.

Only generations count against the concurrency limit, so a thousand idle sockets of one
key hold no slot. A generation's characters are committed to the key's usage before it is
started, hence before any of its audio is sent.
"""

from __future__ import annotations

from breathvoice.errors import BreathVoiceError, QuotaExceeded
from breathvoice.keys.access import AccessControl, Principal


class SocketGate:
    """Admits a socket's generations; every method runs on the event loop."""

    def __init__(self, access: AccessControl, principal: Principal) -> None:
        self._access = access
        self.principal = principal
        self._unlimited = not principal.metered and principal.max_concurrent is None
        self._holding: dict[int, str | None] = {}

    def check_open(self) -> None:
        """At the handshake: refuse a key whose quota is already used up."""
        if self._access.remaining(self.principal) == 0:
            raise QuotaExceeded("character quota exhausted")

    def admit(self, generation_id: int, text: str) -> BreathVoiceError | None:
        """Charge ``text`` (what the generation speaks) and take a slot for it; the
        refusal if it may not run."""
        if self._unlimited:
            return None
        try:
            slot = self._access.limiter.acquire(self.principal.key_id,
                                                self.principal.max_concurrent)
        except BreathVoiceError as exc:
            return exc
        try:
            self._access.charge_spoken(self.principal, text)
        except BreathVoiceError as exc:
            self._access.limiter.release(slot)
            return exc
        self._holding[generation_id] = slot
        return None

    def release(self, generation_id: int) -> None:
        """The generation finished, failed or was cancelled (safe to call more than once)."""
        if generation_id in self._holding:
            self._access.limiter.release(self._holding.pop(generation_id))

    def release_all(self) -> None:
        for generation_id in list(self._holding):
            self.release(generation_id)

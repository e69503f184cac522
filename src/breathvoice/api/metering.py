"""Quota from what is spoken: how an HTTP request's characters are charged and settled.

A synthesis route charges the text it is about to speak, once it has checked the request
and just before synthesis starts, through :meth:`SpeechMeter.charge`. That calls
:meth:`AccessControl.charge_spoken`, the one method every synthesis path uses (WebSocket
generations go through it from :class:`breathvoice.keys.gate.SocketGate`), so the count
comes from the validated text and never from how the request describes itself.

When the response starts, :func:`settle_quota` gives back what a refused request was
charged (status 400 or above) and adds the ``character-quota-remaining`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import State
from starlette.types import Message

from breathvoice.api.guard import PRINCIPAL
from breathvoice.errors import QuotaExceeded
from breathvoice.keys.access import AccessControl, Principal

QUOTA_HEADER = "character-quota-remaining"
CHARGED = "breathvoice_charged"
"""``request.state`` key: characters this request has been charged (refunded on refusal)."""
REMAINING = "breathvoice_remaining"
"""``request.state`` key: the key's characters left, for the quota header."""


def note_remaining(access: AccessControl, state: State, principal: Principal) -> None:
    """Record what a metered key has left, so even a request that speaks nothing gets
    the quota header (the guard has already put the caller in ``state``)."""
    if principal.metered:
        setattr(state, REMAINING, access.remaining(principal))


class SpeechMeter:
    """Charges one request's spoken characters to its caller."""

    def __init__(self, access: AccessControl, principal: Principal, state: State) -> None:
        self._access = access
        self.principal = principal
        self._state = state

    def charge(self, text: str) -> None:
        """Charge ``text``, exactly what goes to synthesis; QuotaExceeded (402) if it
        does not fit, in which case nothing is counted."""
        if not text:
            return
        try:
            remaining = self._access.charge_spoken(self.principal, text)
        except QuotaExceeded:
            setattr(self._state, REMAINING, self._access.remaining(self.principal))
            raise
        if remaining is None:
            return
        setattr(self._state, REMAINING, remaining)
        setattr(self._state, CHARGED, getattr(self._state, CHARGED, 0) + len(text))

    def refund(self, text: str) -> None:
        """Give back a part that was charged and then not spoken (a failed batch item)."""
        charged: int = getattr(self._state, CHARGED, 0)
        chars = min(len(text), charged)
        if chars <= 0:
            return
        self._access.refund(self.principal, chars)
        setattr(self._state, CHARGED, charged - chars)
        remaining: int | None = getattr(self._state, REMAINING, None)
        if remaining is not None:
            setattr(self._state, REMAINING, remaining + chars)


def settle_quota(access: AccessControl, state: dict[str, Any], start: Message) -> Message:
    """At ``http.response.start``: refund a refused request, add the quota header."""
    principal: Principal | None = state.get(PRINCIPAL)
    remaining: int | None = state.get(REMAINING)
    charged: int = state.pop(CHARGED, 0)
    if principal is not None and charged and start["status"] >= 400:
        access.refund(principal, charged)
        remaining = None if remaining is None else remaining + charged
    if remaining is None:
        return start
    headers = [*start.get("headers", []), (QUOTA_HEADER.encode(), str(remaining).encode())]
    return {**start, "headers": headers}

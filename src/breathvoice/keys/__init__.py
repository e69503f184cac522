"""API keys, scopes, quotas, concurrency limits and browser tokens."""

from breathvoice.keys.access import (
    ANONYMOUS,
    AccessControl,
    Principal,
    exposure_problem,
    is_loopback_host,
)
from breathvoice.keys.limits import ConcurrencyLimiter, ConcurrencyLimitReached, TokenBook
from breathvoice.keys.store import SCOPES, KeyRecord, KeyStore, Scope

__all__ = [
    "ANONYMOUS", "SCOPES", "AccessControl", "ConcurrencyLimitReached", "ConcurrencyLimiter",
    "KeyRecord", "KeyStore", "Principal", "Scope", "TokenBook",
    "exposure_problem", "is_loopback_host",
]

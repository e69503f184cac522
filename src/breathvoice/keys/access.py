"""Who is calling and what they may do: keys, scopes, quotas, slots and tokens together.

Two kinds of key are accepted. Keys in the database (``breathvoice keys create``, shared
by every node) have a scope, an optional character quota and an optional concurrency
limit, enforced across nodes. Keys listed in
``BREATHVOICE_API_KEYS`` are static: admin scope, no quota, no limit. Until either kind
exists, authentication is off and every caller is :data:`ANONYMOUS` (an admin); the
server then only binds loopback (:func:`exposure_problem`).

Access fails closed: once the database has held a key, revoked keys included, every
request needs a valid key, even when none is left; ``breathvoice keys create`` on the host
lets someone in again. The API refuses to revoke the last admin key (409), so nobody locks
the admins out by accident.

A single-use token (``POST /breathvoice/tokens``) speaks for the key that minted it with
the ``synthesize`` scope only, whatever that key's scope: it opens one socket or makes one
request, and never mints a token, manages keys, uploads or deletes.

Scopes: ``admin`` may do everything, including uploading, overwriting and deleting voice
groups and managing keys; ``synthesize`` may do everything else.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from breathvoice.db.retry import reachable
from breathvoice.errors import Conflict, Forbidden, NotFound, Unauthorized
from breathvoice.keys.limits import ConcurrencyLimiter, TokenBook
from breathvoice.keys.store import KeyRecord, KeyStore, Scope, hash_key
from breathvoice.settings import Settings

_STATIC_PREFIX = "static-"


@dataclass(frozen=True)
class Principal:
    key_id: str
    scope: Scope
    max_concurrent: int | None
    metered: bool
    """True for database keys: their characters are counted (and limited by their quota)."""
    single_use: bool = False
    """True for a token's caller: synthesis only (see :meth:`AccessControl.authenticate`)."""


ANONYMOUS = Principal("anonymous", "admin", None, False)


class AccessControl:
    def __init__(self, store: KeyStore, static_keys: Sequence[str] = (),
                 token_lifetime_seconds: float = 120.0) -> None:
        self.store = store
        self._static = [hash_key(key) for key in static_keys if key]
        self.tokens = TokenBook(store.db, token_lifetime_seconds)
        self.limiter = ConcurrencyLimiter(store.db)
        self._closed = False
        """Set once a key has existed: it never opens again while the server runs."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessControl:
        return cls(KeyStore.open(settings), settings.api_keys, settings.token_lifetime_seconds)

    def close(self) -> None:
        self.limiter.close()
        self.store.close()

    @reachable()
    def keys_configured(self) -> bool:
        """Whether callers need a key: static keys are set, or the database has ever held
        one (a server whose keys are all revoked stays closed)."""
        if not self._closed:
            self._closed = bool(self._static) or self.store.has_had_keys()
        return self._closed

    def has_usable_keys(self) -> bool:
        return bool(self._static) or self.store.has_active_keys()

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key over the API: never the last admin key unless static keys remain."""
        record = self.store.revoke(key_id, keep_an_admin=not self._static)
        if record is None:
            raise Conflict(f"key {key_id} is the last admin key: revoking it would leave "
                           "nobody able to manage keys. Create another admin key first, or "
                           "revoke it on the host with `breathvoice keys revoke`.")
        return record

    @reachable()
    def authenticate(self, key: str | None, token: str | None = None) -> Principal:
        """The caller behind a key or a token; raises Unauthorized if neither is valid."""
        if token:
            key_id = self.tokens.redeem(token)
            if key_id is None:
                raise Unauthorized("invalid, expired or already used token")
            minter = self._principal_by_id(key_id)
            return replace(minter, scope="synthesize", single_use=True)
        if not self.keys_configured():
            return ANONYMOUS
        if key:
            digest = hash_key(key)
            # Compare with every static key, so the time taken says nothing about which one.
            matches = [hmac.compare_digest(digest, known) for known in self._static]
            if any(matches):
                return Principal(f"{_STATIC_PREFIX}{matches.index(True)}", "admin", None, False)
            record = self.store.find(key)
            if record is not None:
                return Principal(record.id, record.scope, record.max_concurrent, True)
        raise Unauthorized("Missing or invalid API key")

    def _principal_by_id(self, key_id: str) -> Principal:
        if key_id == ANONYMOUS.key_id:
            return ANONYMOUS
        if key_id.startswith(_STATIC_PREFIX):
            return Principal(key_id, "admin", None, False)
        try:
            record: KeyRecord | None = self.store.get(key_id)
        except NotFound:
            record = None
        if record is None or record.revoked_at is not None:
            raise Unauthorized("the key that issued this token was revoked")
        return Principal(record.id, record.scope, record.max_concurrent, True)

    @staticmethod
    def require_scope(principal: Principal, scope: Scope) -> None:
        if scope == "admin" and principal.scope != "admin":
            raise Forbidden("this needs a key with the admin scope"
                            + (" (a token only speaks)" if principal.single_use else ""))

    @reachable()
    def charge_spoken(self, principal: Principal, text: str) -> int | None:
        """Count ``text``, the characters about to go to synthesis, against the key's quota.

        Every synthesis path calls this with the text it is about to speak (so what a
        request says about itself, such as its Content-Type, never matters); returns
        what is left (None: no quota) or raises QuotaExceeded, counting nothing.
        """
        if not principal.metered:
            return None
        return self.store.charge(principal.key_id, len(text))

    @reachable()
    def remaining(self, principal: Principal) -> int | None:
        if not principal.metered:
            return None
        return self.store.get(principal.key_id).remaining_chars

    def refund(self, principal: Principal, chars: int) -> None:
        if principal.metered and chars > 0:
            self.store.refund(principal.key_id, chars)

    def mint_token(self, principal: Principal) -> str:
        if principal.single_use:
            raise Forbidden("a token cannot mint tokens; use an API key")
        return self.tokens.mint(principal.key_id)


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings, access: AccessControl) -> str | None:
    """Why the server must not start on ``settings.host``, or None if it may."""
    if access.keys_configured() or is_loopback_host(settings.host):
        return None
    return (f"refusing to listen on {settings.host}: no API key is configured, so anyone "
            "who can reach this address could use the server. Create a key with "
            "`breathvoice keys create --scope admin` (or set BREATHVOICE_API_KEYS), or "
            "bind a loopback address such as 127.0.0.1.")

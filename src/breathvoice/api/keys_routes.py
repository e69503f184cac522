"""Managing API keys over REST: the ``breathvoice keys`` commands for an admin key.

- ``POST /breathvoice/keys`` creates a key and answers its secret, this once only;
- ``GET /breathvoice/keys`` lists keys (never their secrets) with usage and limits;
- ``DELETE /breathvoice/keys/{key_id}`` revokes one: its next request gets 401. The last
  admin key cannot be revoked here (409): the command line can, leaving the server closed.

Every route needs a key with the ``admin`` scope (until a key has existed, the server only
listens on loopback and lets every local caller in, as for the other routes). The keys live
in the same database as the command's, so both see each other's changes at once.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireAdmin, RequireApiKey, access_control
from breathvoice.errors import EngineError, NotFound
from breathvoice.keys import KeyRecord, KeyStore, Scope

router = APIRouter(prefix="/breathvoice/keys", tags=["keys"],
                   dependencies=[RequireApiKey, RequireAdmin])

MAX_NAME_CHARS = 100
MAX_QUOTA = 10**15
MAX_CONCURRENT = 10_000
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class KeyRequest(BaseModel):
    scope: Scope = Field("synthesize", description="'synthesize' or 'admin'")
    name: str = Field("", max_length=MAX_NAME_CHARS, description="a label for people")
    char_quota: int | None = Field(None, ge=0, le=MAX_QUOTA,
                                   description="characters this key may speak; none: no quota")
    max_concurrent: int | None = Field(
        None, ge=1, le=MAX_CONCURRENT,
        description="requests (or generating contexts) at once; none: no limit")

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
            raise ValueError("the name must not contain control characters")
        return name


class KeyInfo(BaseModel):
    id: str = Field(description="what DELETE /breathvoice/keys/{key_id} takes")
    name: str
    starts_with: str = Field(description="the first characters of the key, to tell keys apart")
    scope: Scope
    char_quota: int | None
    chars_used: int
    quota_remaining: int | None = Field(description="characters left; null: no quota")
    max_concurrent: int | None
    created_at: str = Field(description="ISO 8601, UTC")
    revoked: bool
    revoked_at: str | None = Field(description="ISO 8601, UTC; null while the key works")

    @classmethod
    def of(cls, record: KeyRecord) -> KeyInfo:
        return cls(id=record.id, name=record.name, starts_with=record.shown_prefix,
                   scope=record.scope, char_quota=record.char_quota,
                   chars_used=record.chars_used, quota_remaining=record.remaining_chars,
                   max_concurrent=record.max_concurrent, created_at=_iso(record.created_at),
                   revoked=record.revoked_at is not None,
                   revoked_at=None if record.revoked_at is None else _iso(record.revoked_at))


class KeyCreated(BaseModel):
    success: bool = True
    message: str
    key: str = Field(description="the secret: shown in this response only, store it now")
    info: KeyInfo


class KeyList(BaseModel):
    keys: list[KeyInfo]
    count: int


class KeyRevoked(BaseModel):
    success: bool = True
    message: str
    info: KeyInfo


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


def _store(request: Request) -> KeyStore:
    store = access_control(request.app).store
    if store is None:
        raise EngineError("this server has no key database")
    return store


@router.post("", status_code=201, response_model=KeyCreated,
             summary="Create a key (its secret is shown once)")
async def create_key(body: KeyRequest, request: Request) -> KeyCreated:
    secret, record = await run_in_threadpool(
        _store(request).create, body.scope, name=body.name, char_quota=body.char_quota,
        max_concurrent=body.max_concurrent)
    return KeyCreated(message=f"key {record.id} created; store it now, it is not shown again",
                      key=secret, info=KeyInfo.of(record))


@router.get("", response_model=KeyList, summary="List keys (never their secrets)")
async def list_keys(
    request: Request,
    include_revoked: Annotated[bool, Query(description="also list revoked keys")] = False,
) -> KeyList:
    records = await run_in_threadpool(_store(request).list, include_revoked)
    return KeyList(keys=[KeyInfo.of(record) for record in records], count=len(records))


@router.delete("/{key_id}", response_model=KeyRevoked, summary="Revoke a key")
async def revoke_key(key_id: str, request: Request) -> KeyRevoked:
    """The key's next request is refused with 401; revoking it again changes nothing.
    The last admin key is refused with 409 (revoke it with ``breathvoice keys revoke``)."""
    if not _KEY_ID.match(key_id):
        raise NotFound("no key with that id")
    _store(request)
    record = await run_in_threadpool(access_control(request.app).revoke, key_id)
    return KeyRevoked(message=f"key {record.id} revoked", info=KeyInfo.of(record))

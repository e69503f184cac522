"""Riding out a database that is briefly away (a PostgreSQL restart, a failover).

A request made meanwhile gets :class:`~breathvoice.errors.DatabaseUnavailable` (503) from
:func:`reachable`. Background work waits instead (:func:`retrying`): a call that fails
because the connection was lost or refused is tried again, waiting a little longer each
time, until it succeeds or ``RETRY_SECONDS`` have passed. Errors in the request itself (a
constraint, bad SQL) are raised at once. The engine checks pooled
connections before use (``pool_pre_ping``), so the retry after a restart gets a fresh one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from breathvoice.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

RETRY_SECONDS = 300.0
FIRST_WAIT_SECONDS = 0.1
LONGEST_WAIT_SECONDS = 2.0


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached, not that the call was wrong."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


@contextmanager
def reachable() -> Iterator[None]:
    """Turn "the database cannot be reached" into the user-facing DatabaseUnavailable."""
    try:
        yield
    except DBAPIError as exc:
        if is_disconnect(exc):
            raise DatabaseUnavailable() from exc
        raise


def retrying(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)``, tried again while the database is unreachable (blocking)."""
    deadline = time.monotonic() + RETRY_SECONDS
    wait = FIRST_WAIT_SECONDS
    warned = False
    while True:
        try:
            return call(*args, **kwargs)
        except DBAPIError as exc:
            if not is_disconnect(exc) or time.monotonic() + wait > deadline:
                raise
            if not warned:
                log.warning("the database is unreachable (%s); retrying",
                            type(exc.orig).__name__)
                warned = True
        time.sleep(wait)
        wait = min(wait * 2, LONGEST_WAIT_SECONDS)

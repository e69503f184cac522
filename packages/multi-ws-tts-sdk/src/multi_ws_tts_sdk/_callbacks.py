"""User callbacks: plain functions or coroutine functions, never allowed to kill the reader."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Awaitable, Callable, Union

logger = logging.getLogger("multi_ws_tts_sdk")

AudioCallback = Callable[[bytes, bool], Union[None, Awaitable[None]]]
ErrorCallback = Callable[[str, str], Union[None, Awaitable[None]]]
CompleteCallback = Callable[[], Union[None, Awaitable[None]]]


async def invoke(callback: Callable[..., Any], *args: Any) -> None:
    """Call ``callback(*args)``, await it if it returned an awaitable, log what it raised.

    A failing callback must not stop the delivery of audio to the other contexts.
    """
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("a %s callback raised", getattr(callback, "__name__", "user"))

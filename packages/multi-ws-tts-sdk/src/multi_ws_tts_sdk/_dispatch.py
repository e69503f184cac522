"""Routing what the server sends to the contexts it names."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Union

from .protocol import (
    AudioOutput,
    ErrorOutput,
    FinalOutput,
    ProtocolError,
    parse_server_message,
)

if TYPE_CHECKING:
    from .client import TTSClient

logger = logging.getLogger("multi_ws_tts_sdk")

INVALID_SERVER_MESSAGE = "INVALID_SERVER_MESSAGE"


async def dispatch_frame(client: TTSClient, frame: Union[str, bytes]) -> None:
    """Hand one frame to its context; errors naming no context go to every listener."""
    try:
        message = parse_server_message(frame)
    except ProtocolError as exc:
        logger.debug("recv unusable frame (%s): %.200r", exc, frame)
        await client._report_connection_error(INVALID_SERVER_MESSAGE, str(exc))
        return
    client._error_before_close = None
    if isinstance(message, ErrorOutput):
        logger.debug("recv error %s for %s: %s", message.code, message.context_id, message.message)
        if message.context_id is None:
            await client._report_connection_error(message.code, message.message)
            return
        context = client.get_context(message.context_id)
        if context is None:  # a context the user already removed: the client hears of it
            await client._report_connection_error(message.code, message.message, contexts=False)
        else:
            await context._handle_error(message.code, message.message)
        return
    context = client.get_context(message.context_id) if message.context_id else None
    if context is None:
        logger.debug("recv for unknown context %r: dropped", message.context_id)
        return
    if isinstance(message, AudioOutput):
        logger.debug("recv %d audio bytes for %s final=%s", len(message.audio),
                     message.context_id, message.is_final)
        await context._handle_audio(message.audio, message.is_final)
    elif isinstance(message, FinalOutput):
        logger.debug("recv final for %s", message.context_id)
        await context._handle_audio(b"", True)

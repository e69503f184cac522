"""``TTSClient``: one WebSocket, several independent TTS contexts on it."""

from __future__ import annotations

import asyncio
import logging
import os
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from websockets.exceptions import ConnectionClosed

from ._callbacks import ErrorCallback, invoke
from ._dispatch import dispatch_frame
from ._transport import (
    DEFAULT_MAX_CONTEXTS,
    WebSocketLike,
    advertised_max_contexts,
    build_url,
    close_status,
    open_websocket,
    redact_url,
)
from .context import GenerationConfigLike, TTSContext, VoiceSettingsLike
from .errors import (
    ConnectionClosedError,
    ContextLimitError,
    TTSConnectionError,
    TTSError,
    closed_failure,
)
from .protocol import ClientMessage, CloseSocket, serialize_client_message

logger = logging.getLogger("multi_ws_tts_sdk")

CONNECTION_CLOSED = "CONNECTION_CLOSED"
_INHERIT: Any = object()
_debug_handler: Optional[logging.Handler] = None


class TTSClient:
    """Manages the connection and its contexts (at most :attr:`max_contexts` active at once).

    Arguments left out are read from ``TTS_BASE_URL``, ``TTS_API_KEY`` and
    ``TTS_VOICE_ID``; ``TTS_DEBUG=1`` turns on debug logging of connections and messages.
    ``max_buffer_bytes`` bounds each context's audio buffer (oldest audio is dropped);
    ``None`` keeps everything, ``0`` keeps nothing (use callbacks or ``stream()``).
    ``query_params`` are defaults for :meth:`connect` (and for ``async with``).
    """

    MAX_CONTEXTS = DEFAULT_MAX_CONTEXTS
    """The context limit when the server's handshake does not state one."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        voice_id: Optional[str] = None,
        *,
        query_params: Optional[Mapping[str, Any]] = None,
        max_buffer_bytes: Optional[int] = None,
        connect_timeout: float = 10.0,
        close_timeout: float = 5.0,
        open_check: float = 0.2,
    ) -> None:
        self.base_url = base_url if base_url is not None else os.environ.get("TTS_BASE_URL", "")
        self.api_key = api_key if api_key is not None else os.environ.get("TTS_API_KEY", "")
        self.voice_id = voice_id if voice_id is not None else os.environ.get("TTS_VOICE_ID", "")
        self.query_params: Dict[str, Any] = dict(query_params or {})
        self.max_buffer_bytes = max_buffer_bytes
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self.open_check = open_check
        self._contexts: Dict[str, TTSContext] = {}
        self._max_contexts = self.MAX_CONTEXTS
        self._ws: Optional[WebSocketLike] = None
        self._reader: Optional[asyncio.Task[None]] = None
        self._closing = False
        self._connection_failure: Optional[TTSConnectionError] = None
        self._error_before_close: Optional[Tuple[str, str]] = None
        self._on_error: Optional[ErrorCallback] = None
        _enable_debug_logging_from_env()

    # -- connection ------------------------------------------------------------------------

    async def connect(self, query_params: Optional[Mapping[str, Any]] = None) -> None:
        """Open the socket. Raises a ``ConnectionError`` subclass if that is impossible:
        :class:`AuthenticationError` for a refused key, :class:`TTSConnectionError` else.

        Servers may accept the socket and then refuse it with an error message and a close
        (``INVALID_API_KEY``, ``VOICE_NOT_FOUND``); ``connect`` waits ``open_check``
        seconds for such a refusal so that it raises for it too.
        """
        if self.is_connected():
            raise TTSError("already connected; call disconnect() first")
        params = dict(self.query_params)
        params.update(query_params or {})
        url = build_url(self.base_url, self.voice_id, params)
        logger.debug("connecting to %s", redact_url(url))
        self._ws = await open_websocket(url, self.api_key, self.connect_timeout)
        self._max_contexts = advertised_max_contexts(self._ws)
        # Contexts of an earlier socket are gone on the server; unsent ones can still be used.
        self._contexts = {key: c for key, c in self._contexts.items() if c.state == "new"}
        self._closing = False
        self._connection_failure = None
        self._error_before_close = None
        self._reader = reader = asyncio.ensure_future(self._read(self._ws))
        if self.open_check > 0:
            await asyncio.wait({reader}, timeout=self.open_check)
            if reader.done():
                failure = self._connection_failure
                self._ws = self._reader = None
                raise failure or TTSConnectionError("the server closed the connection at once")
        logger.debug("connected to %s", redact_url(url))

    @property
    def max_contexts(self) -> int:
        """How many contexts may be active at once: the server's ``X-Max-Contexts`` handshake
        header, else :attr:`MAX_CONTEXTS` (5)."""
        return self._max_contexts

    def is_connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    async def disconnect(self) -> None:
        """Ask the server to finish pending audio and close, then release everything.

        Contexts still waiting for audio fail with :class:`ConnectionClosedError`.
        """
        ws, reader = self._ws, self._reader
        if ws is not None and reader is not None and not reader.done():
            self._closing = True
            try:
                await ws.send(serialize_client_message(CloseSocket()))
                await asyncio.wait_for(asyncio.shield(reader), self.close_timeout)
            except (ConnectionClosed, asyncio.TimeoutError):
                pass
            finally:
                await ws.close()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self._fail_unfinished(ConnectionClosedError("disconnected"))
        self._contexts.clear()
        self._ws = self._reader = None
        logger.debug("disconnected")

    async def __aenter__(self) -> TTSClient:
        if not self.is_connected():
            await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.disconnect()

    def on_error(self, callback: ErrorCallback) -> TTSClient:
        """``callback(error_code, error_message)`` for errors of the connection itself
        (no context named, refused key, socket closed by the server)."""
        self._on_error = callback
        return self

    # -- contexts --------------------------------------------------------------------------

    def create_context(
        self,
        context_id: str,
        *,
        voice_settings: Optional[VoiceSettingsLike] = None,
        generation_config: Optional[GenerationConfigLike] = None,
        emotion: Optional[str] = None,
        max_buffer_bytes: Optional[int] = _INHERIT,
        pronunciation_dictionary_locators: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> TTSContext:
        """Create a context; it is opened on the server by its first ``send_text``.

        ``voice_settings`` (e.g. ``{"speed": 1.1}``), ``generation_config``, ``emotion``
        (one of the voice group's emotions) and ``pronunciation_dictionary_locators``
        (``{"pronunciation_dictionary_id", "version_id"}`` objects) travel with it;
        ``max_buffer_bytes`` overrides the client's buffer bound for this context.
        Raises :class:`ContextLimitError` (a ``ValueError``) while :attr:`max_contexts`
        contexts are active; ``end_input()`` or ``close()`` of one frees its slot at once.
        """
        if not context_id:
            raise ValueError("context_id must be a non-empty string")
        existing = self._contexts.get(context_id)
        if existing is not None and existing.state not in ("done", "failed"):
            raise ValueError(f"context {context_id!r} already exists and has not ended")
        if self.get_active_context_count() >= self._max_contexts:
            raise ContextLimitError(context_id, self._max_contexts)
        context = TTSContext(
            self,
            context_id,
            voice_settings=voice_settings,
            generation_config=generation_config,
            emotion=emotion,
            pronunciation_dictionary_locators=pronunciation_dictionary_locators,
            max_buffer_bytes=(
                self.max_buffer_bytes if max_buffer_bytes is _INHERIT else max_buffer_bytes
            ),
        )
        self._contexts[context_id] = context
        return context

    def get_context(self, context_id: str) -> Optional[TTSContext]:
        return self._contexts.get(context_id)

    def remove_context(self, context_id: str) -> None:
        """Forget a context; if it has not ended, the server is told to close it."""
        context = self._contexts.pop(context_id, None)
        if context is not None and context.state == "open" and self.is_connected():
            task = asyncio.ensure_future(context.close())
            task.add_done_callback(_log_task_failure)

    def get_active_context_count(self) -> int:
        """Contexts holding a slot: created or open, not yet ended, closed or failed."""
        return sum(1 for context in self._contexts.values() if context.is_active)

    def _forget(self, context: TTSContext) -> None:
        if self._contexts.get(context.context_id) is context:
            del self._contexts[context.context_id]

    # -- the socket ------------------------------------------------------------------------

    async def _send(self, message: ClientMessage) -> None:
        ws = self._ws
        if ws is None or not self.is_connected():
            raise self._connection_failure or TTSConnectionError("not connected")
        frame = serialize_client_message(message)
        logger.debug("send %s", frame if len(frame) <= 200 else frame[:200] + "…")
        try:
            await ws.send(frame)
        except ConnectionClosed as exc:
            raise ConnectionClosedError(
                f"the connection closed (code {exc.rcvd.code if exc.rcvd else 'none'})"
            ) from exc

    async def _read(self, ws: WebSocketLike) -> None:
        try:
            async for frame in ws:
                await dispatch_frame(self, frame)
        except ConnectionClosed:
            pass  # an abnormal close: reported below like any other
        except Exception:
            logger.exception("the receive loop stopped")
        code, reason = close_status(ws)
        logger.debug("socket closed: code=%s reason=%r", code, reason)
        if self._closing:
            return
        last_error = self._error_before_close
        failure = self._connection_failure = closed_failure(code, reason, last_error)
        if last_error is None and (code != 1000 or self._has_unfinished()):
            await self._report_connection_error(CONNECTION_CLOSED, str(failure))
        self._fail_unfinished(failure)

    # -- what the dispatcher calls ---------------------------------------------------------

    async def _report_connection_error(
        self, code: str, message: str, contexts: bool = True
    ) -> None:
        """An error that names no context: the client's callback and every context's."""
        self._error_before_close = (code, message)
        if self._on_error is not None:
            await invoke(self._on_error, code, message)
        for context in list(self._contexts.values()) if contexts else []:
            if context.state not in ("done", "failed"):
                await context._fire_error(code, message)

    def _unfinished(self) -> List[TTSContext]:
        return [c for c in self._contexts.values() if c.state in ("new", "open", "ending")]

    def _has_unfinished(self) -> bool:
        return any(c.state in ("open", "ending") for c in self._contexts.values())

    def _fail_unfinished(self, failure: TTSError) -> None:
        for context in self._unfinished():
            if context.state != "new":
                context._fail(failure)


def _log_task_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("closing a removed context failed: %s", task.exception())


def _enable_debug_logging_from_env() -> None:
    """``TTS_DEBUG=1``: debug records of this package, printed to stderr unless the
    application has configured logging itself."""
    global _debug_handler
    if os.environ.get("TTS_DEBUG", "").strip().lower() not in ("1", "true", "yes", "on"):
        return
    logger.setLevel(logging.DEBUG)
    if logging.getLogger().handlers or _debug_handler in logger.handlers:
        return
    _debug_handler = logging.StreamHandler()
    _debug_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(_debug_handler)

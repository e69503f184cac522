"""One TTS stream on a shared socket: what it sends, and what it does with what comes back.

A context goes ``new`` → ``open`` (first text sent) → ``ending`` (``close_context`` sent)
→ ``done`` (the server's final message arrived). It becomes ``failed`` when the server
refuses to open it (``MAX_CONTEXT_LIMIT_EXCEEDED``, or any other error before any of its
audio) or when the socket is lost. Only ``new`` and ``open`` contexts hold a slot.
"""

from __future__ import annotations

import asyncio
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from ._buffer import AudioBuffer
from ._callbacks import AudioCallback, CompleteCallback, ErrorCallback, invoke
from .errors import ContextClosedError, ContextError, TTSError
from .protocol import CloseContext, GenerationConfig, KeepAlive, SendText, VoiceSettings

if TYPE_CHECKING:
    from .client import TTSClient

NEW, OPEN, ENDING, DONE, FAILED = "new", "open", "ending", "done", "failed"
CONTEXT_LIMIT = "MAX_CONTEXT_LIMIT_EXCEEDED"
ENGINE_ERROR = "STREAMING_SERVICE_ERROR"  # a failed generation: the context carries on

VoiceSettingsLike = Union[VoiceSettings, Mapping[str, Any]]
GenerationConfigLike = Union[GenerationConfig, Mapping[str, Any]]
_StreamItem = Union[bytes, "_End"]


class _End:
    def __init__(self, outcome: Optional[TTSError]) -> None:
        self.outcome = outcome


class TTSContext:
    """An independent TTS stream; create it with :meth:`TTSClient.create_context`."""

    def __init__(
        self,
        client: TTSClient,
        context_id: str,
        *,
        voice_settings: Optional[VoiceSettingsLike] = None,
        generation_config: Optional[GenerationConfigLike] = None,
        emotion: Optional[str] = None,
        max_buffer_bytes: Optional[int] = None,
        pronunciation_dictionary_locators: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> None:
        self._client = client
        self._context_id = context_id
        if isinstance(voice_settings, Mapping):
            voice_settings = VoiceSettings.from_dict(voice_settings)
        if isinstance(generation_config, Mapping):
            generation_config = GenerationConfig.from_dict(generation_config)
        self._opening = SendText(text="", context_id=context_id, voice_settings=voice_settings,
                                 generation_config=generation_config, emotion=emotion,
                                 pronunciation_dictionary_locators=None
                                 if pronunciation_dictionary_locators is None
                                 else tuple(dict(item) for item in
                                            pronunciation_dictionary_locators))
        self._audio = AudioBuffer(max_buffer_bytes)
        self._state = NEW
        self._closed = False
        self._unflushed_text = False
        self._heard = False
        self._errors: List[Tuple[str, str]] = []
        self._outcome: Optional[TTSError] = None
        self._received_bytes = 0
        self._waiters: List[asyncio.Future[None]] = []
        self._streams: Set[asyncio.Queue[_StreamItem]] = set()
        self._on_audio: Optional[AudioCallback] = None
        self._on_error: Optional[ErrorCallback] = None
        self._on_complete: Optional[CompleteCallback] = None

    @property
    def context_id(self) -> str:
        return self._context_id

    @property
    def state(self) -> str:
        """``"new"``, ``"open"``, ``"ending"``, ``"done"`` or ``"failed"``."""
        return self._state

    @property
    def is_active(self) -> bool:
        """True while the context holds a slot on the connection (not yet ended)."""
        return self._state in (NEW, OPEN)

    @property
    def is_done(self) -> bool:
        """True once the server's final message for this context has arrived."""
        return self._state == DONE

    @property
    def errors(self) -> List[Tuple[str, str]]:
        """``(code, message)`` of every error the server reported since the context opened."""
        return list(self._errors)

    @property
    def received_bytes(self) -> int:
        """Audio bytes received, including any dropped from a bounded buffer."""
        return self._received_bytes

    @property
    def dropped_bytes(self) -> int:
        """Audio bytes dropped from the buffer because of ``max_buffer_bytes``."""
        return self._audio.dropped_bytes

    # -- callbacks: each may be a plain or an async function, and returns the context -------

    def on_audio(self, callback: AudioCallback) -> TTSContext:
        """``callback(audio: bytes, is_final: bool)`` for every audio chunk."""
        self._on_audio = callback
        return self

    def on_error(self, callback: ErrorCallback) -> TTSContext:
        """``callback(error_code: str, error_message: str)``."""
        self._on_error = callback
        return self

    def on_complete(self, callback: CompleteCallback) -> TTSContext:
        """``callback()`` once the server has sent the last audio of this context."""
        self._on_complete = callback
        return self

    # -- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str, flush: bool = False) -> None:
        """Send text; ``flush=True`` asks the server to synthesise what it holds now.

        The first message opens the context on the server and carries its voice settings,
        generation config, emotion and pronunciation dictionaries. After a refusal
        (``failed``) it opens it again.
        """
        if self._closed or self._state in (ENDING, DONE):
            raise ContextClosedError(f"context {self._context_id!r} has ended; create a new one")
        if self._state in (NEW, FAILED):
            self._errors, self._outcome, self._heard = [], None, False
            message = SendText(
                text=text,
                context_id=self._context_id,
                flush=flush,
                voice_settings=self._opening.voice_settings,
                generation_config=self._opening.generation_config,
                emotion=self._opening.emotion,
                pronunciation_dictionary_locators=(
                    self._opening.pronunciation_dictionary_locators),
            )
        else:
            message = SendText(text=text, context_id=self._context_id, flush=flush)
        await self._client._send(message)
        self._state = OPEN
        self._unflushed_text = not flush and (self._unflushed_text or bool(text))

    async def flush(self) -> None:
        """Synthesise the text sent so far without ending the context."""
        await self.send_text("", flush=True)

    async def keep_alive(self) -> None:
        """Reset the server's inactivity timer of this context; generates nothing."""
        if self._state == OPEN:
            await self._client._send(KeepAlive(self._context_id))

    async def end_input(self) -> None:
        """End of input: the text sent so far is spoken, then the context ends.

        Its slot is free at once; the remaining audio follows, then the final message,
        which fires ``on_complete``. Calling it again is harmless.
        """
        if self._state == NEW:
            await self._complete()
        elif self._state == OPEN:
            self._state = ENDING
            if self._unflushed_text:
                self._unflushed_text = False
                await self._client._send(SendText(text="", context_id=self._context_id, flush=True))
            await self._client._send(CloseContext(self._context_id))
        elif self._state == FAILED and self._client.is_connected():
            # The server may hold the context after all (the refusal was of one message).
            await self._client._send(CloseContext(self._context_id))

    async def close(self) -> None:
        """End the context like :meth:`end_input`; the client forgets it once it is done."""
        self._closed = True
        if self._state == NEW:
            self._state = DONE
            self._settle()
        elif self._state in (OPEN, FAILED) and self._client.is_connected():
            await self.end_input()
        if self._state != ENDING:
            self._client._forget(self)

    # -- waiting and streaming -------------------------------------------------------------

    async def wait_done(self, timeout: Optional[float] = None) -> None:
        """Wait for the final message that follows :meth:`end_input`.

        Raises :class:`ContextError` if the server reported an error for this context,
        :class:`ConnectionClosedError` if the socket went away, ``asyncio.TimeoutError``
        after ``timeout`` seconds.
        """
        if self._state not in (DONE, FAILED):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        if self._outcome is not None:
            raise self._outcome

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield audio chunks as they arrive, starting with those buffered, until the end.

        Raises like :meth:`wait_done` once the chunks are out.
        """
        queue: asyncio.Queue[_StreamItem] = asyncio.Queue()
        for chunk in self._audio.chunks():
            queue.put_nowait(chunk)
        if self._state in (DONE, FAILED):
            queue.put_nowait(_End(self._outcome))
        self._streams.add(queue)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _End):
                    if item.outcome is not None:
                        raise item.outcome
                    return
                yield item
        finally:
            self._streams.discard(queue)

    def get_all_audio(self) -> bytes:
        """All buffered audio (with ``max_buffer_bytes``: the newest that fit)."""
        return self._audio.join()

    def clear_audio_buffer(self) -> None:
        self._audio.clear()

    # -- called by the client's receive loop -----------------------------------------------

    async def _handle_audio(self, audio: bytes, is_final: bool) -> None:
        self._heard = True
        if audio:
            self._received_bytes += len(audio)
            self._audio.append(audio)
            for queue in self._streams:
                queue.put_nowait(audio)
            if self._on_audio is not None:
                await invoke(self._on_audio, audio, is_final)
        if is_final:
            await self._complete()

    async def _handle_error(self, code: str, message: str) -> None:
        self._errors.append((code, message))
        refused = code == CONTEXT_LIMIT or (not self._heard and code != ENGINE_ERROR)
        if self._state in (OPEN, ENDING) and refused:
            self._fail(ContextError(self._context_id, code, message))
        await self._fire_error(code, message)

    async def _fire_error(self, code: str, message: str) -> None:
        if self._on_error is not None:
            await invoke(self._on_error, code, message)

    async def _complete(self) -> None:
        self._state = DONE
        if self._outcome is None and self._errors:
            self._outcome = ContextError(self._context_id, *self._errors[0])
        self._settle()
        if self._on_complete is not None:
            await invoke(self._on_complete)
        if self._closed:
            self._client._forget(self)

    def _fail(self, failure: TTSError) -> None:
        self._state = FAILED
        self._outcome = failure
        self._settle()

    def _settle(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        for queue in self._streams:
            queue.put_nowait(_End(self._outcome))

    def __repr__(self) -> str:
        return f"TTSContext({self._context_id!r}, state={self._state!r})"

"""The multi-context WebSocket: a pump between a socket and a :class:`Session`.

Both paths of the protocol (ElevenLabs' and the seed SDK's) are served by one function.
The handshake checks the caller (found by :mod:`breathvoice.api.guard` before the
handshake reaches this module), the quota, the query string and the voice group; a refusal is an
error message followed by a close code. An accepted handshake's ``X-Voice-Method`` header
says how the group's default emotion speaks (``stock`` while its voice matching runs), and
its ``X-Max-Contexts`` header how many contexts may be open at once.
A context's first message may name ``pronunciation_dictionary_locators``: the reader
resolves them (with the group's dictionaries, off the loop) before the session sees the
message; unknown ones get an error for that context and the message is dropped.
Then three tasks drive one session:

- the reader feeds client frames to ``session.receive``;
- a ticker calls ``session.tick``, so idle contexts and sockets time out;
- the writer sends what the session asked for, in order, and closes when it says so.

Synthesis and encoding run on the scheduler's worker threads
(:class:`~breathvoice.streaming.runner.GenerationRunner`); their results come back to the
loop as calls to ``_on_frames`` and ``_on_done``. The loop only moves small messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import access_control, open_socket_gate
from breathvoice.api.deps import Services
from breathvoice.api.guard import principal_of, refuse_socket
from breathvoice.api.models import MAX_CONTEXTS_HEADER, VOICE_METHOD_HEADER
from breathvoice.errors import BreathVoiceError, EngineError, PayloadTooLarge, QuotaExceeded
from breathvoice.keys.gate import SocketGate
from breathvoice.pronunciation.lexicon import Lexicon
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.pronunciation.store import locators_of
from breathvoice.streaming.actions import CancelSynthesis, Close, Send, StartSynthesis
from breathvoice.streaming.audio_out import Frame
from breathvoice.streaming.params import parse_stream_params
from breathvoice.streaming.runner import GenerationRunner
from breathvoice.streaming.session import Session
from multi_ws_tts_sdk.protocol import (
    DEFAULT_CONTEXT_ID,
    ClientMessage,
    ErrorOutput,
    ProtocolError,
    SendText,
    ServerMessage,
    parse_client_message,
    serialize_server_message,
)

log = logging.getLogger(__name__)
router = APIRouter()

ELEVENLABS_PATH = "/v1/text-to-speech/{voice_id}/multi-stream-input"
ENTERPRISE_PATH = "/enterprise/v1/tts/{voice_id}/websocket/multi"
TICK_SECONDS = 0.5


@router.websocket(ELEVENLABS_PATH, name="multi_stream_input")
@router.websocket(ENTERPRISE_PATH, name="enterprise_multi_stream")
async def multi_context_stream(websocket: WebSocket, voice_id: str) -> None:
    services: Services = websocket.app.state.services
    try:
        pump, voice_method = await _open(websocket, voice_id, services)
    except BreathVoiceError as exc:
        await refuse_socket(websocket, exc)
        return
    await websocket.accept(headers=[
        (VOICE_METHOD_HEADER.lower().encode(), voice_method.encode()),
        (MAX_CONTEXTS_HEADER.lower().encode(), str(pump.session.config.max_contexts).encode()),
    ])
    await pump.run()


async def _open(websocket: WebSocket, voice_id: str, services: Services) -> tuple[_Pump, str]:
    """The socket's pump, and how its default emotion's voice speaks (for the handshake)."""
    settings = services.settings
    gate = open_socket_gate(access_control(websocket.app), principal_of(websocket))
    params = parse_stream_params(
        websocket.query_params, websocket.headers,
        default_inactivity_timeout=settings.default_inactivity_timeout,
    )
    details = await run_in_threadpool(services.library.details, voice_id)
    config = params.session_config(
        details.get("emotions") or details["available_emotions"],
        settings.max_contexts_per_socket,
        default_emotion=details["default_emotion"],
    )
    group_lexicon = await run_in_threadpool(services.pronunciation.lexicon, voice_id)
    config = dataclasses.replace(
        config, lexicon=group_lexicon,
        pronunciation_hold_seconds=settings.pronunciation_hold_seconds)
    session = Session(config, now=asyncio.get_running_loop().time())
    pump = _Pump(websocket, session, settings.max_ws_message_bytes)
    pump.gate = gate
    pump.dictionaries = (services.pronunciation, voice_id)
    pump.runner = GenerationRunner(services.scheduler, services.library, voice_id,
                                   params.output_format, pump.on_frames, pump.on_done)
    voice_method = await pump.runner.prepare(config.default_emotion)
    return pump, voice_method


class _Pump:
    runner: GenerationRunner
    """Set right after construction: its callbacks are this pump's methods."""
    gate: SocketGate
    """The key's quota and concurrency slots for this socket's generations."""
    dictionaries: tuple[PronunciationService, str]
    """Where a context's named dictionaries are looked up, and the socket's voice group."""

    def __init__(self, websocket: WebSocket, session: Session, max_message_bytes: int) -> None:
        self.websocket = websocket
        self.session = session
        self.max_message_bytes = max_message_bytes
        self.outbox: asyncio.Queue[ServerMessage | Close | None] = asyncio.Queue()
        """What the writer sends, in order; None once the client is gone."""

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._tick())]
        try:
            await self._write()
        except WebSocketDisconnect:
            pass  # the client went away while we were sending
        except Exception:
            log.exception("multi-context socket failed")
            await _close_quietly(self.websocket, EngineError.ws_close)
        finally:
            for task in tasks:
                task.cancel()
            if not self.session.closed:
                self.session.connection_lost()
                self._execute()
            self.runner.cancel_all()
            self.gate.release_all()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (message := await self.websocket.receive())["type"] == "websocket.receive":
                data: str | bytes = message.get("text") or message.get("bytes") or ""
                if _size(data) > self.max_message_bytes:
                    self.outbox.put_nowait(ErrorOutput(
                        PayloadTooLarge.code,
                        f"A message may hold at most {self.max_message_bytes} bytes",
                    ))
                    continue
                parsed = await self._with_lexicon(data)
                if parsed is not None:
                    self.session.receive(parsed[0], loop.time(), parsed[1])
                self._execute()
            self.session.connection_lost()  # cancel at once, before the writer notices
            self._execute()
        finally:
            self.outbox.put_nowait(None)

    async def _with_lexicon(self, data: str | bytes
                            ) -> tuple[str | bytes | ClientMessage, Lexicon | None] | None:
        """The frame, with the rules of the context it opens when it names dictionaries
        (None: it named ones that do not exist, and the client was told)."""
        if b"pronunciation_dictionary_locators" not in (
                data.encode() if isinstance(data, str) else data):
            return data, None
        try:
            message = parse_client_message(data)
        except ProtocolError:
            return data, None  # the session answers it
        if (not isinstance(message, SendText) or not message.pronunciation_dictionary_locators
                or (message.context_id or DEFAULT_CONTEXT_ID) in self.session.open_contexts):
            return message, None  # ElevenLabs reads them in a context's first message only
        service, voice_group_id = self.dictionaries
        try:
            locators = locators_of(list(message.pronunciation_dictionary_locators))
            lexicon = await run_in_threadpool(service.lexicon, voice_group_id, locators)
        except BreathVoiceError as exc:
            self.outbox.put_nowait(ErrorOutput(exc.code, exc.message, message.context_id))
            return None
        return message, lexicon

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.session.tick(loop.time())
            self._execute()

    async def _write(self) -> None:
        while (item := await self.outbox.get()) is not None:
            if isinstance(item, Close):
                await self.websocket.close(item.code, item.reason)
                return
            await self.websocket.send_text(serialize_server_message(item))

    def _execute(self) -> None:
        for action in self.session.actions():
            if isinstance(action, Send):
                self.outbox.put_nowait(action.message)
            elif isinstance(action, Close):
                self.outbox.put_nowait(action)
            elif isinstance(action, StartSynthesis):
                refusal = self.gate.admit(action.generation_id, action.text)
                if refusal is None:
                    self.runner.start(action)
                else:
                    loop = asyncio.get_running_loop()
                    loop.call_soon(self._refuse, action.generation_id, refusal)
            elif isinstance(action, CancelSynthesis):
                self.gate.release(action.generation_id)
                self.runner.cancel(action.generation_id)

    def _refuse(self, generation_id: int, error: BreathVoiceError) -> None:
        """A generation the key may not run: its context gets the error; no quota closes."""
        self.on_done(generation_id, error)
        if isinstance(error, QuotaExceeded):
            self.outbox.put_nowait(Close(error.ws_close, error.code))

    def on_frames(self, generation_id: int, frames: list[Frame]) -> None:
        for frame in frames:
            self.session.synthesis_chunk(generation_id, frame.audio, frame.alignment)
        self._execute()

    def on_done(self, generation_id: int, error: BaseException | None) -> None:
        self.gate.release(generation_id)
        if error is None:
            self.session.synthesis_done(generation_id)
        elif isinstance(error, BreathVoiceError):
            self.session.synthesis_failed(generation_id, error.message, error.code)
        else:
            self.session.synthesis_failed(generation_id, EngineError.default_message)
        self._execute()


async def _close_quietly(websocket: WebSocket, code: int) -> None:
    try:
        await websocket.close(code)
    except (RuntimeError, WebSocketDisconnect):
        pass  # already closed


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)

"""A real WebSocket server on a loopback port that speaks the multi-context protocol.

Its replies are scripted, not synthesised: the audio of a flushed text is
``b"pcm:" + text`` so tests can tell which text produced which chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from multi_ws_tts_sdk.protocol import (
    AudioOutput,
    CloseContext,
    CloseSocket,
    ErrorOutput,
    FinalOutput,
    KeepAlive,
    SendText,
    parse_client_message,
)


def audio_for(text: str) -> bytes:
    return b"pcm:" + text.encode("utf-8")


@dataclass
class FakeTTSServer:
    api_key: str | None = None
    max_contexts: int = 5
    advertised_limit: str | None = None
    """Sent as the handshake's ``X-Max-Contexts`` header; None sends no such header."""
    snake_case: bool = False
    final_with_audio: bool = False
    emotions: tuple[str, ...] = ("greeting", "B1_B2")
    failing_texts: tuple[str, ...] = ()
    on_connect: Callable[[ServerConnection], Awaitable[None]] | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def query(self, index: int = -1) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.paths[index]).query)

    def kinds(self) -> list[str]:
        """The received messages as kinds: text / flush / keepalive / close_context / ..."""
        return [_kind(parse_client_message(m)) for m in self.received]

    async def __aenter__(self) -> FakeTTSServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check,
                                   process_response=self._advertise)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        self.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        if self.api_key is not None and request.headers.get("api-key") != self.api_key:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    def _advertise(self, connection: ServerConnection, request: Request,
                   response: Response) -> None:
        if self.advertised_limit is not None and response.status_code == 101:
            response.headers["X-Max-Contexts"] = self.advertised_limit

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        if self.on_connect is not None:
            await self.on_connect(ws)
        pending: dict[str, list[str]] = {}
        with contextlib.suppress(ConnectionClosed):
            await self._serve(ws, pending)

    async def _serve(self, ws: ServerConnection, pending: dict[str, list[str]]) -> None:
        async for frame in ws:
            data = json.loads(frame)
            self.received.append(data)
            message = parse_client_message(data)
            if isinstance(message, SendText):
                await self._text(ws, pending, message)
            elif isinstance(message, CloseContext) and message.context_id in pending:
                await self._speak(ws, message.context_id, pending.pop(message.context_id))
                await self._final(ws, message.context_id)
            elif isinstance(message, CloseSocket):
                for context_id, texts in list(pending.items()):
                    await self._speak(ws, context_id, texts)
                    await self._final(ws, context_id)
                await ws.close(1000)

    async def _text(self, ws: ServerConnection, pending: dict[str, list[str]],
                    message: SendText) -> None:
        context_id = message.context_id or "default"
        if message.emotion is not None and message.emotion not in self.emotions:
            await self.send(ws, ErrorOutput("INVALID_REQUEST", "Unknown emotion", context_id))
            return
        if context_id not in pending:
            if len(pending) >= self.max_contexts:
                await self.send(ws, ErrorOutput("MAX_CONTEXT_LIMIT_EXCEEDED",
                                                f"at most {self.max_contexts} contexts",
                                                context_id))
                return
            pending[context_id] = []
        if message.text:
            pending[context_id].append(message.text)
        if message.flush:
            await self._speak(ws, context_id, pending[context_id])
            pending[context_id] = []

    async def _speak(self, ws: ServerConnection, context_id: str, texts: list[str]) -> None:
        for text in texts:
            if text in self.failing_texts:
                await self.send(ws, ErrorOutput("STREAMING_SERVICE_ERROR", "engine fault",
                                                context_id))
            else:
                await self.send(ws, AudioOutput(audio_for(text), context_id))

    async def _final(self, ws: ServerConnection, context_id: str) -> None:
        if self.final_with_audio:
            await self.send(ws, AudioOutput(b"tail", context_id, is_final=True))
        else:
            await self.send(ws, FinalOutput(context_id))

    async def send(self, ws: ServerConnection, message: Any) -> None:
        data = message.to_dict()
        if self.snake_case:
            for camel, snake in (("contextId", "context_id"), ("isFinal", "is_final")):
                if camel in data:
                    data[snake] = data.pop(camel)
        await ws.send(json.dumps(data))


def _kind(message: Any) -> str:
    if isinstance(message, SendText):
        return "flush" if message.flush and not message.text else (
            "text+flush" if message.flush else "text")
    if isinstance(message, KeepAlive):
        return "keepalive"
    if isinstance(message, CloseContext):
        return "close_context"
    if isinstance(message, CloseSocket):
        return "close_socket"
    return type(message).__name__


async def settle(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait until ``condition()`` holds (messages cross a real socket)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)

"""The multi-context WebSocket over real sockets, against a real server and engine."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import av
import numpy as np
import pytest
import soundfile as sf
import websockets
from websockets.asyncio.client import ClientConnection

from conftest import LiveServer

pytestmark = pytest.mark.timeout(300)
T = TypeVar("T")

V1 = "/v1/text-to-speech/{voice}/multi-stream-input"
ENTERPRISE = "/enterprise/v1/tts/{voice}/websocket/multi"
WAIT = 120.0
"""Seconds to wait for audio: 2 shared cores can be slow, a broken server never answers."""
SHORT = ["你好。", "早上好。", "谢谢你。", "再见。", "好的。"]
# Two sentences each: two chunks per context, however busy the engine is.
TWO_PARTS = ["欢迎来到我们的小店。今天有新货。", "早上好我的朋友们。我们出发吧。",
             "谢谢你今天的帮助。辛苦了。", "我们明天早上再见。晚安。", "这个问题没有关系。别担心。"]


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(scenario)


@dataclass
class Received:
    """Everything a client got, in order, with the time it arrived."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def of(self, context: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("contextId") == context]

    def audio(self, context: str) -> bytes:
        return b"".join(base64.b64decode(m["audio"]) for m in self.of(context) if "audio" in m)

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "error" in m]

    def finals(self, context: str) -> int:
        return sum(1 for m in self.of(context) if m.get("isFinal"))


class Client:
    """A plain ``websockets`` client that records what arrives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.got = Received()
        self.closed = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, server: LiveServer, path: str = V1, query: str = "",
                      voice: str = "Demo", **headers: str) -> Client:
        url = f"{server.ws_url}{path.format(voice=voice)}"
        if query:
            url += f"?{query}"
        return cls(await websockets.connect(url, additional_headers=headers, max_size=None))

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message, ensure_ascii=False))

    async def until(self, condition: Callable[[Received], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.got):
            if self.closed.done():
                raise AssertionError(f"closed early {self.closed.result()}: {self.got.messages}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(f"timed out; got {self.got.messages}") from None

    async def finals(self, *contexts: str, timeout: float = WAIT) -> None:
        await self.until(lambda got: all(got.finals(c) for c in contexts), timeout)

    async def close_code(self, timeout: float = WAIT) -> int | None:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.got.messages.append(json.loads(raw))
                self.got.times.append(time.monotonic())
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        self.closed.set_result(self.ws.close_code)
        self._changed.set()

    async def aclose(self) -> None:
        await self.ws.close()
        await self._reader


async def speak(server: LiveServer, query: str, text: str, **headers: str) -> bytes:
    """The audio of ``text`` in one context on its own socket."""
    client = await Client.connect(server, V1, query, **headers)
    await client.send(text=text, context_id="only", flush=True)
    await client.send(context_id="only", close_context=True)
    await client.finals("only")
    await client.aclose()
    assert not client.got.errors()
    return client.got.audio("only")


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


# -- the two paths, five contexts at once ---------------------------------------------------


def test_seed_sdk_messages_on_the_enterprise_path(live_server: LiveServer) -> None:
    async def scenario() -> Received:
        client = await Client.connect(
            live_server, ENTERPRISE,
            "priority=dedicated_concurrency&model_id=flash_v2_5&format=pcm_16000&language_code=zh",
            **{"api-key": "anything"},
        )
        contexts = [f"ctx_{i:03d}" for i in range(5)]
        for context, text in zip(contexts, TWO_PARTS, strict=True):
            await client.send(context_id=context, text=text, flush=True)
        for context in contexts:
            await client.send(context_id=context, text="")  # the seed's end_input()
            await client.send(context_id=context, close_context=True)
        await client.finals(*contexts)
        await client.aclose()
        return client.got

    got = run(scenario())
    assert got.errors() == []
    for i in range(5):
        context = f"ctx_{i:03d}"
        pcm = np.frombuffer(got.audio(context), dtype="<i2")
        assert 0.5 < len(pcm) / 16000 < 10
        assert rms(pcm / 32768) > 0.01
        assert got.finals(context) == 1
        final = [m for m in got.of(context) if m.get("isFinal")][0]
        assert "audio" not in final and final == {"isFinal": True, "contextId": context}
        assert got.of(context)[-1] is final


def test_elevenlabs_messages_on_the_v1_path_interleave_contexts(live_server: LiveServer) -> None:
    async def scenario() -> Received:
        client = await Client.connect(
            live_server, V1, "model_id=eleven_flash_v2_5&output_format=pcm_24000"
            "&sync_alignment=true", **{"xi-api-key": "anything"},
        )
        for i, text in enumerate(TWO_PARTS):
            context = f"c{i}"
            await client.send(text=" ", context_id=context,
                              voice_settings={"stability": 0.5, "similarity_boost": 0.8,
                                              "speed": 1.0})
            head, tail = text.split("。", 1)
            await client.send(text=head + "。", context_id=context)
            await client.send(text=tail, context_id=context)
            await client.send(context_id=context, flush=True)
            await client.send(context_id=context, close_context=True)
        await client.finals(*[f"c{i}" for i in range(5)])
        await client.send(close_socket=True)
        assert await client.close_code() == 1000
        return client.got

    got = run(scenario())
    assert got.errors() == []
    firsts = [got.messages.index(got.of(f"c{i}")[0]) for i in range(5)]
    finals = [got.messages.index(got.of(f"c{i}")[-1]) for i in range(5)]
    assert max(firsts) < min(finals), "every context starts before any of them ends"
    for i, text in enumerate(TWO_PARTS):
        messages = got.of(f"c{i}")
        assert [m.get("isFinal") for m in messages] == [False] * (len(messages) - 1) + [True]
        assert all("audio" in m and "alignment" in m for m in messages[:-1][:1])
        spoken, starts = alignment_of(messages[:-1], 24000)
        assert spoken == text.replace(" ", ""), "audio comes in order and covers the text"
        assert starts == sorted(starts)
        assert starts[-1] < len(got.audio(f"c{i}")) / 2 / 24000 * 1000


def alignment_of(messages: list[dict[str, Any]], rate: int) -> tuple[str, list[float]]:
    """The characters of a context's audio messages and their start times from its start."""
    chars: list[str] = []
    starts: list[float] = []
    offset_ms = 0.0
    for message in messages:
        alignment = message.get("alignment") or {"chars": [], "charStartTimesMs": []}
        assert len(alignment["chars"]) == len(alignment["charStartTimesMs"])
        chars += alignment["chars"]
        starts += [offset_ms + start for start in alignment["charStartTimesMs"]]
        offset_ms += len(base64.b64decode(message["audio"])) / 2 / rate * 1000
    return "".join(chars).replace(" ", ""), starts


# -- limits and what clients in the wild send ------------------------------------------------


def test_a_sixth_context_is_refused_and_a_closed_one_frees_its_slot(
    live_server: LiveServer,
) -> None:
    async def scenario() -> Received:
        client = await Client.connect(live_server, query="output_format=pcm_16000")
        for i in range(5):
            await client.send(text="一二三", context_id=f"c{i}")  # buffered, open
        await client.send(text="你好。", context_id="c5", flush=True)
        await client.until(lambda got: len(got.errors()) == 1)
        await client.send(context_id="c0", close_context=True)
        await client.send(text="你好。", context_id="c5", flush=True)
        await client.send(context_id="c5", close_context=True)
        await client.finals("c0", "c5")
        await client.aclose()
        return client.got

    got = run(scenario())
    (error,) = got.errors()
    assert error["error"] == "MAX_CONTEXT_LIMIT_EXCEEDED" and error["contextId"] == "c5"
    assert len(got.audio("c5")) > 16000  # the freed slot was taken: more than 0.5 s


def test_what_elevenlabs_clients_send_is_tolerated(live_server: LiveServer) -> None:
    async def scenario() -> Client:
        client = await Client.connect(
            live_server,
            query="model_id=eleven_turbo_v2_5&output_format=pcm_16000&enable_logging=false"
                  "&apply_text_normalization=auto&some_future_flag=1",
        )
        await client.send(text="")  # keep-alive without context_id
        await client.send(text=" ", context_id="a", voice_settings={})
        await client.send(text="", context_id="a", flush=True)  # flush with empty text
        await client.send(text="你好。", context_id="a", flush=True)
        await client.send(context_id="a", close_context=True)
        await client.finals("a")
        await client.send(text="", context_id="a")  # keep-alive on a closed context
        await client.send(context_id="a", close_context=True)  # a second close
        await client.send(context_id="never-opened", flush=True)
        await client.send(text="好的。", context_id="b", flush=True)
        await client.send(context_id="b", close_context=True)
        await client.finals("b")
        return client

    client = run(scenario())
    assert client.got.errors() == []
    assert client.got.finals("a") == 1 and client.got.finals("b") == 1
    assert not client.closed.done()


def test_invalid_json_is_refused_without_harming_other_contexts(live_server: LiveServer) -> None:
    async def scenario() -> Received:
        client = await Client.connect(live_server, query="output_format=pcm_16000")
        await client.send(text="你好，", context_id="a")
        await client.ws.send("{not json")
        await client.ws.send(json.dumps({"text": 42, "context_id": "a"}))
        await client.send(text="朋友。", context_id="a", flush=True)
        await client.send(context_id="a", close_context=True)
        await client.finals("a")
        await client.aclose()
        return client.got

    got = run(scenario())
    assert [e["error"] for e in got.errors()] == ["INVALID_REQUEST", "INVALID_REQUEST"]
    assert got.errors()[1]["contextId"] == "a"
    assert len(got.audio("a")) > 16000 and got.finals("a") == 1


def test_an_oversized_message_is_refused_and_the_socket_stays_open(
    live_server: LiveServer,
) -> None:
    async def scenario() -> Received:
        client = await Client.connect(live_server, query="output_format=pcm_16000")
        await client.send(text="啊" * 400_000, context_id="big")  # 1.2 MB of UTF-8
        await client.until(lambda got: len(got.errors()) == 1)
        await client.send(text="好的。", context_id="small", flush=True)
        await client.send(context_id="small", close_context=True)
        await client.finals("small")
        await client.aclose()
        return client.got

    got = run(scenario())
    assert got.errors()[0]["error"] == "PAYLOAD_TOO_LARGE"
    assert got.of("big") == [] and len(got.audio("small")) > 8000


def test_close_socket_sends_pending_audio_then_closes_with_1000(live_server: LiveServer) -> None:
    async def scenario() -> tuple[Client, float]:
        client = await Client.connect(live_server, query="output_format=pcm_16000")
        await client.send(text="你好，", context_id="a")  # buffered, not flushed
        await client.send(text="再见。", context_id="b", flush=True)
        await client.send(close_socket=True)
        code = await client.close_code()
        closed_at = time.monotonic()
        assert code == 1000
        return client, closed_at - client.got.times[-1]

    client, close_after_last = run(scenario())
    got = client.got
    assert got.errors() == []
    assert len(got.audio("a")) > 8000 and len(got.audio("b")) > 8000
    assert got.finals("a") == 1 and got.finals("b") == 1
    assert close_after_last < 2.0


def test_inactivity_times_the_socket_out(live_server: LiveServer) -> None:
    async def scenario() -> tuple[Client, int | None]:
        client = await Client.connect(live_server, query="inactivity_timeout=1")
        return client, await client.close_code(timeout=10)

    client, code = run(scenario())
    assert code == 1008
    assert [e["error"] for e in client.got.errors()] == ["INPUT_TIMEOUT_EXCEEDED"]


# -- formats ---------------------------------------------------------------------------------

FORMATS = ["pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "ulaw_8000",
           "alaw_8000", "mp3_22050_32", "mp3_44100_128"]


def decode(name: str, data: bytes) -> tuple[np.ndarray, int]:
    """Float samples and their rate, decoded the way a client would."""
    codec, rate = name.split("_")[0], int(name.split("_")[1])
    if codec == "pcm":
        assert len(data) % 2 == 0
        return np.frombuffer(data, dtype="<i2") / 32768.0, rate
    if codec in ("ulaw", "alaw"):
        samples, read_rate = sf.read(io.BytesIO(data), format="RAW", subtype=codec.upper(),
                                     samplerate=8000, channels=1, dtype="float32")
        return samples, read_rate
    with av.open(io.BytesIO(data), format="mp3") as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        return np.concatenate(frames), stream.rate


@pytest.fixture(scope="module")
def every_format(live_server: LiveServer) -> dict[str, bytes]:
    async def all_formats() -> list[bytes]:
        return await asyncio.gather(*(
            speak(live_server, f"output_format={name}", "你好，朋友。") for name in FORMATS
        ))

    return dict(zip(FORMATS, run(all_formats()), strict=True))


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_decodes_at_its_rate(name: str, every_format: dict[str, bytes]) -> None:
    samples, rate = decode(name, every_format[name])
    assert rate == int(name.split("_")[1])
    reference = len(every_format["pcm_24000"]) / 2 / 24000
    assert abs(len(samples) / rate - reference) < 0.1, (len(samples) / rate, reference)
    assert rms(samples) > 0.01


def test_mu_law_round_trips_to_the_linear_audio(every_format: dict[str, bytes]) -> None:
    linear, _ = decode("pcm_8000", every_format["pcm_8000"])
    companded, _ = decode("ulaw_8000", every_format["ulaw_8000"])
    assert len(linear) == len(companded)
    noise = linear - companded
    snr_db = 10 * np.log10(np.sum(linear**2) / np.sum(noise**2))
    assert snr_db > 30, snr_db  # G.711 gives about 38 dB on speech


# -- access and voices -----------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"xi-api-key": "wrong"}, {"api-key": "wrong"}])
def test_a_missing_or_wrong_key_is_refused_with_1008(
    live_server_with_keys: LiveServer, headers: dict[str, str]
) -> None:
    async def scenario() -> tuple[Received, int | None]:
        client = await Client.connect(live_server_with_keys, ENTERPRISE, **headers)
        return client.got, await client.close_code(timeout=10)

    got, code = run(scenario())
    assert code == 1008
    assert [e["error"] for e in got.errors()] == ["INVALID_API_KEY"]


def test_the_right_key_is_let_in_on_both_paths(live_server_with_keys: LiveServer) -> None:
    key = live_server_with_keys.api_key
    assert key is not None
    audio = run(speak(live_server_with_keys, "output_format=pcm_16000", "好的。",
                      **{"xi-api-key": key}))
    assert len(audio) > 8000

    async def enterprise() -> Received:
        client = await Client.connect(live_server_with_keys, ENTERPRISE, "format=pcm_16000",
                                      **{"api-key": key})
        await client.send(context_id="c", text="好的。", flush=True)
        await client.send(context_id="c", close_context=True)
        await client.finals("c")
        await client.aclose()
        return client.got

    assert len(run(enterprise()).audio("c")) > 8000


def test_an_unknown_voice_is_refused(live_server: LiveServer) -> None:
    async def scenario() -> tuple[Received, int | None]:
        client = await Client.connect(live_server, voice="NoSuchGroup")
        return client.got, await client.close_code(timeout=10)

    got, code = run(scenario())
    assert code == 1008
    (error,) = got.errors()
    assert error["error"] == "VOICE_NOT_FOUND" and "NoSuchGroup" in error["message"]


# -- cancellation ----------------------------------------------------------------------------

LONG_SENTENCE = "今天我们一起" + "慢慢地走过这条长长的街道然后" * 12 + "回家。"


def test_a_dropped_connection_frees_the_engine_at_once(live_server: LiveServer) -> None:
    async def first_audio_after(before: Callable[[], Awaitable[None]]) -> float:
        client = await Client.connect(
            live_server, query="output_format=pcm_16000&inactivity_timeout=180")
        await before()
        started = time.monotonic()
        await client.send(text="好的。", context_id="q", flush=True)
        await client.until(lambda got: bool(got.of("q")))
        await client.aclose()
        return time.monotonic() - started

    async def nothing() -> None:
        pass

    async def busy_then_drop() -> None:
        hog = await Client.connect(live_server, query="output_format=pcm_16000")
        for context in ("x", "y"):  # one long generation per worker
            await hog.send(text=LONG_SENTENCE, context_id=context, flush=True)
        await hog.until(lambda got: bool(got.of("x")) and bool(got.of("y")))
        hog.ws.transport.abort()  # vanish: no close frame

    idle = run(first_audio_after(nothing))
    after_drop = run(first_audio_after(busy_then_drop))
    # Without cancellation the query waits for a long model call (several seconds here, many
    # times the idle first audio). Relative to the idle time: a loaded machine (the suite on
    # several processes) slows both alike.
    assert after_drop < 1.5 * idle + 1.0, (after_drop, idle)

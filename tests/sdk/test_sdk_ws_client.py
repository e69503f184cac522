"""TTSClient and TTSContext against a scripted server on a real loopback socket."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fake_server import FakeTTSServer, audio_for, settle
from websockets.asyncio.server import ServerConnection

from multi_ws_tts_sdk import (
    AuthenticationError,
    ConnectionClosedError,
    ContextClosedError,
    ContextError,
    ContextLimitError,
    TTSClient,
    TTSConnectionError,
)
from multi_ws_tts_sdk.protocol import ErrorOutput


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(bounded())


def fast(server: FakeTTSServer, **options: Any) -> TTSClient:
    """A client that does not wait for a refusal after the handshake (the fake never does)."""
    return TTSClient(server.url, "", "Demo", open_check=0, **options)


def test_connects_to_the_seed_path_with_priority_query_and_api_key_header() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server:
            client = TTSClient(server.url.replace("ws://", "http://") + "/", "k-123", "Demo")
            await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000",
                                  "language_code": "zh"})
            assert client.is_connected()
            await client.disconnect()
            assert not client.is_connected()
        assert server.paths[0].split("?")[0] == "/enterprise/v1/tts/Demo/websocket/multi"
        assert server.query() == {"priority": ["dedicated_concurrency"],
                                  "model_id": ["flash_v2_5"], "format": ["pcm_16000"],
                                  "language_code": ["zh"]}
        assert server.headers[0]["api-key"] == "k-123"

    run(scenario)


def test_arguments_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        async with FakeTTSServer(api_key="env-key") as server:
            monkeypatch.setenv("TTS_BASE_URL", server.url)
            monkeypatch.setenv("TTS_API_KEY", "env-key")
            monkeypatch.setenv("TTS_VOICE_ID", "EnvVoice")
            client = TTSClient()
            await client.connect()
            await client.disconnect()
        assert server.paths[0].startswith("/enterprise/v1/tts/EnvVoice/websocket/multi?")

    run(scenario)


def test_audio_then_end_input_closes_the_context_and_fires_on_complete() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            heard: list[tuple[bytes, bool]] = []
            completed: list[str] = []
            ctx = (client.create_context("ctx_001")
                   .on_audio(lambda audio, is_final: heard.append((audio, is_final)))
                   .on_complete(lambda: completed.append("done")))
            await ctx.send_text("你好，世界", flush=True)
            await settle(lambda: len(heard) == 1)
            await ctx.end_input()
            await ctx.wait_done(timeout=2)
            assert heard == [(audio_for("你好，世界"), False)]
            assert completed == ["done"]
            assert ctx.get_all_audio() == audio_for("你好，世界")
            assert server.kinds() == ["text+flush", "close_context"]
            assert server.received[1] == {"context_id": "ctx_001", "close_context": True}

    run(scenario)


def test_end_input_speaks_unflushed_text_before_closing() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c")
            await ctx.send_text("一")
            await ctx.send_text("二")
            await ctx.end_input()
            await ctx.wait_done(timeout=2)
            assert server.kinds() == ["text", "text", "flush", "close_context"]
            assert ctx.get_all_audio() == audio_for("一") + audio_for("二")

    run(scenario)


@pytest.mark.parametrize("snake_case", [False, True], ids=["camelCase", "snake_case"])
def test_final_message_without_audio_fires_on_complete_in_either_spelling(
    snake_case: bool,
) -> None:
    async def scenario() -> None:
        async with FakeTTSServer(snake_case=snake_case) as server, \
                fast(server) as client:
            completed = asyncio.Event()
            ctx = client.create_context("c1").on_complete(completed.set)
            await ctx.send_text("hi", flush=True)
            await ctx.end_input()
            await asyncio.wait_for(completed.wait(), 2)
            assert ctx.is_done and ctx.get_all_audio() == audio_for("hi")

    run(scenario)


def test_final_message_with_audio_reaches_on_audio_as_final() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(final_with_audio=True) as server, \
                fast(server) as client:
            heard: list[tuple[bytes, bool]] = []
            ctx = client.create_context("c1").on_audio(lambda a, f: heard.append((a, f)))
            await ctx.send_text("hi", flush=True)
            await ctx.end_input()
            await ctx.wait_done(timeout=2)
            assert heard == [(audio_for("hi"), False), (b"tail", True)]

    run(scenario)


def test_closed_contexts_free_their_slot() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            contexts = [client.create_context(f"ctx_{i:03d}") for i in range(5)]
            for ctx in contexts:
                await ctx.send_text("x", flush=True)
            assert client.get_active_context_count() == 5
            await contexts[0].close()
            assert client.get_active_context_count() == 4
            await contexts[1].end_input()
            assert client.get_active_context_count() == 3
            errors: list[str] = []
            late = client.create_context("ctx_late").on_error(lambda c, m: errors.append(c))
            await late.send_text("y", flush=True)
            await late.end_input()
            await late.wait_done(timeout=2)
            assert errors == [] and late.get_all_audio() == audio_for("y")
            await settle(lambda: client.get_context("ctx_000") is None)

    run(scenario)


def test_remove_context_closes_it_on_the_server() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c")
            await ctx.send_text("x")
            client.remove_context("c")
            assert client.get_context("c") is None and client.get_active_context_count() == 0
            await settle(lambda: server.kinds()[-1:] == ["close_context"])
            client.remove_context("never-created")  # harmless

    run(scenario)


def test_a_sixth_active_context_is_refused_at_create_and_a_closed_one_frees_its_slot() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:  # no X-Max-Contexts
            assert client.max_contexts == 5
            contexts = [client.create_context(f"c{i}") for i in range(5)]
            for ctx in contexts[:3]:
                await ctx.send_text("x")  # open on the server; c3 and c4 are not sent yet
            with pytest.raises(ContextLimitError) as caught:
                client.create_context("c5")
            assert isinstance(caught.value, ValueError)  # what the published SDK raises
            assert caught.value.code == "MAX_CONTEXT_LIMIT_EXCEEDED" and caught.value.limit == 5
            assert client.get_context("c5") is None and client.get_active_context_count() == 5
            await contexts[0].close()  # frees its slot before its final arrives
            sixth = client.create_context("c5")
            with pytest.raises(ContextLimitError):
                client.create_context("c6")
            await contexts[4].close()  # never sent: its slot is free too
            seventh = client.create_context("c6")
            for ctx in (sixth, seventh):
                await ctx.send_text(ctx.context_id, flush=True)
                await ctx.end_input()
                await ctx.wait_done(timeout=2)
                assert ctx.get_all_audio() == audio_for(ctx.context_id)
        assert [m.get("context_id") for m in server.received if m.get("text")] == [
            "c0", "c1", "c2", "c5", "c6"]

    run(scenario)


def test_the_limit_advertised_in_the_handshake_replaces_the_default() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(max_contexts=2, advertised_limit="2") as server, \
                fast(server) as client:
            assert client.max_contexts == 2
            first, second = client.create_context("a"), client.create_context("b")
            with pytest.raises(ContextLimitError, match="at most 2 contexts"):
                client.create_context("c")
            await first.send_text("x")
            await first.end_input()  # ending: no longer active
            third = client.create_context("c")
            await second.close()
            await third.send_text("three", flush=True)
            await third.close()
            await settle(lambda: third.is_done)
            assert third.errors == [] and third.get_all_audio() == audio_for("three")

    run(scenario)


@pytest.mark.parametrize("header", ["", "zero", "0", "-3"])
def test_a_missing_or_unusable_header_means_five(header: str) -> None:
    async def scenario() -> None:
        async with FakeTTSServer(advertised_limit=header) as server, fast(server) as client:
            assert client.max_contexts == 5
            for i in range(5):
                client.create_context(f"c{i}")
            with pytest.raises(ContextLimitError):
                client.create_context("c5")

    run(scenario)


def test_a_server_stricter_than_it_says_still_refuses_with_a_context_error() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(max_contexts=2) as server, fast(server) as client:
            contexts = [client.create_context(f"c{i}") for i in range(2)]
            for ctx in contexts:
                await ctx.send_text("x")
            errors: list[tuple[str, str]] = []
            third = client.create_context("c2").on_error(lambda c, m: errors.append((c, m)))
            await third.send_text("three", flush=True)
            with pytest.raises(ContextError) as caught:
                await third.wait_done(timeout=2)
            assert caught.value.code == "MAX_CONTEXT_LIMIT_EXCEEDED"
            assert [code for code, _ in errors] == ["MAX_CONTEXT_LIMIT_EXCEEDED"]
            assert contexts[0].state == "open"  # the others are untouched
            await contexts[0].end_input()
            await contexts[0].wait_done(timeout=2)
            await third.send_text("three", flush=True)
            await third.end_input()
            await third.wait_done(timeout=2)
            assert third.get_all_audio() == audio_for("three")

    run(scenario)


def test_engine_error_mid_context_is_reported_and_the_context_still_ends() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(failing_texts=("bad",)) as server, \
                fast(server) as client:
            errors: list[str] = []
            completed: list[bool] = []
            ctx = (client.create_context("c").on_error(_recorder(errors))
                   .on_complete(lambda: completed.append(True)))
            await ctx.send_text("good", flush=True)
            await settle(lambda: ctx.received_bytes > 0)
            await ctx.send_text("bad", flush=True)
            await ctx.send_text("after", flush=True)
            await ctx.end_input()
            with pytest.raises(ContextError, match="STREAMING_SERVICE_ERROR"):
                await ctx.wait_done(timeout=2)
            assert ctx.is_done and completed == [True]
            assert errors == ["STREAMING_SERVICE_ERROR"]
            assert ctx.get_all_audio() == audio_for("good") + audio_for("after")
            assert ctx.errors == [("STREAMING_SERVICE_ERROR", "engine fault")]

    run(scenario)


def test_refused_opening_fails_the_context_instead_of_hanging() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c", emotion="NoSuchEmotion")
            await ctx.send_text("hello", flush=True)
            await ctx.end_input()  # the server never opened it: no final will come
            with pytest.raises(ContextError, match="INVALID_REQUEST"):
                await ctx.wait_done(timeout=2)
            assert ctx.state == "failed" and client.get_active_context_count() == 0

    run(scenario)


def test_errors_without_context_reach_the_client_and_every_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            client_errors: list[tuple[str, str]] = []
            client.on_error(lambda code, message: client_errors.append((code, message)))
            context_errors: dict[str, list[str]] = {"a": [], "b": []}
            for name, errors in context_errors.items():
                ctx = client.create_context(name).on_error(_recorder(errors))
                await ctx.send_text("x")
            await server.send(server.connections[0],
                              ErrorOutput("INSUFFICIENT_QUOTA", "quota used up"))
            await settle(lambda: len(client_errors) == 1)
            assert client_errors == [("INSUFFICIENT_QUOTA", "quota used up")]
            assert context_errors == {"a": ["INSUFFICIENT_QUOTA"], "b": ["INSUFFICIENT_QUOTA"]}
            assert client.is_connected()

    run(scenario)
    assert capsys.readouterr() == ("", "")


def _recorder(codes: list[str]) -> Callable[[str, str], None]:
    return lambda code, message: codes.append(code)


def test_refused_key_raises_a_connection_error_at_once() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(api_key="right") as server:
            client = TTSClient(server.url, "wrong", "Demo")
            with pytest.raises(ConnectionError) as caught:
                await client.connect()
            assert isinstance(caught.value, AuthenticationError)
            assert caught.value.status == 401
            assert "wrong" not in str(caught.value)
            assert not client.is_connected()

    run(scenario, timeout=5)


def test_unreachable_server_raises_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> None:
        client = TTSClient(f"ws://127.0.0.1:{port}", "", "Demo", connect_timeout=2)
        with pytest.raises(TTSConnectionError, match="cannot reach"):
            await client.connect()

    run(scenario, timeout=5)


def test_invalid_base_url_is_refused_before_connecting() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="base_url"):
            await TTSClient("ftp://example", "", "Demo").connect()
        with pytest.raises(ValueError, match="voice_id"):
            await TTSClient("ws://127.0.0.1:1", "", "").connect()

    run(scenario)


def test_dropped_socket_fails_waiters_and_reports_instead_of_hanging() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            client_errors: list[str] = []
            client.on_error(lambda code, message: client_errors.append(code))
            ctx_errors: list[str] = []
            ctx = client.create_context("c").on_error(lambda code, m: ctx_errors.append(code))
            await ctx.send_text("x", flush=True)
            await settle(lambda: ctx.received_bytes > 0)
            server.connections[0].transport.abort()
            with pytest.raises(ConnectionClosedError):
                await ctx.wait_done(timeout=3)
            assert client_errors == ["CONNECTION_CLOSED"] and ctx_errors == ["CONNECTION_CLOSED"]
            assert not client.is_connected()
            with pytest.raises(ConnectionError):
                await client.create_context("d").send_text("y")

    run(scenario)


async def _refuse_key(ws: ServerConnection) -> None:
    await ws.send('{"error":"INVALID_API_KEY","message":"bad key"}')
    await ws.close(1008, "INVALID_API_KEY")


def test_key_refused_after_the_handshake_still_fails_connect() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(on_connect=_refuse_key) as server:
            client = TTSClient(server.url, "k", "Demo")
            errors: list[str] = []
            client.on_error(lambda code, message: errors.append(code))
            with pytest.raises(AuthenticationError) as caught:
                await client.connect()
            assert caught.value.error_code == "INVALID_API_KEY"
            assert "bad key" in str(caught.value)
            assert errors == ["INVALID_API_KEY"] and not client.is_connected()

    run(scenario)


def test_key_refused_late_reports_once_and_fails_the_next_send() -> None:
    async def scenario() -> None:
        async with FakeTTSServer(on_connect=_refuse_key) as server:
            client = TTSClient(server.url, "k", "Demo", open_check=0)
            errors: list[str] = []
            client.on_error(lambda code, message: errors.append(code))
            await client.connect()
            await settle(lambda: not client.is_connected())
            assert errors == ["INVALID_API_KEY"]
            with pytest.raises(AuthenticationError):
                await client.create_context("c").send_text("x")

    run(scenario)


def test_async_callbacks_are_awaited_and_a_raising_callback_harms_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            heard: list[bytes] = []

            async def slow_consumer(audio: bytes, is_final: bool) -> None:
                await asyncio.sleep(0.01)
                heard.append(audio)

            def broken(audio: bytes, is_final: bool) -> None:
                raise RuntimeError("user bug")

            good = client.create_context("good").on_audio(slow_consumer)
            bad = client.create_context("bad").on_audio(broken)
            await bad.send_text("b", flush=True)
            await good.send_text("g", flush=True)
            for ctx in (bad, good):
                await ctx.end_input()
                await ctx.wait_done(timeout=2)
            assert heard == [audio_for("g")]
            assert bad.get_all_audio() == audio_for("b")

    with caplog.at_level(logging.ERROR, logger="multi_ws_tts_sdk"):
        run(scenario)
    assert "callback raised" in caplog.text


def test_stream_yields_every_chunk_in_order_including_those_already_buffered() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c")
            await ctx.send_text("one", flush=True)
            await settle(lambda: ctx.received_bytes > 0)
            await ctx.send_text("two", flush=True)
            await ctx.send_text("three")
            await ctx.end_input()
            chunks = [chunk async for chunk in ctx.stream()]
            assert chunks == [audio_for("one"), audio_for("two"), audio_for("three")]

    run(scenario)


def test_bounded_buffer_keeps_the_newest_audio_and_counts_what_it_dropped() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, \
                fast(server, max_buffer_bytes=10) as client:
            ctx = client.create_context("c")
            nothing = client.create_context("n", max_buffer_bytes=0)
            unbounded = client.create_context("u", max_buffer_bytes=None)
            for context in (ctx, nothing, unbounded):
                await context.send_text("aaa", flush=True)  # 7 bytes of audio each
                await context.send_text("bbb", flush=True)
                await context.end_input()
                await context.wait_done(timeout=2)
            assert ctx.get_all_audio() == audio_for("bbb")
            assert (ctx.dropped_bytes, ctx.received_bytes) == (7, 14)
            assert nothing.get_all_audio() == b"" and nothing.dropped_bytes == 14
            assert unbounded.get_all_audio() == audio_for("aaa") + audio_for("bbb")
            unbounded.clear_audio_buffer()
            assert unbounded.get_all_audio() == b""

    run(scenario)


def test_first_message_carries_voice_settings_and_emotion_later_ones_do_not() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c", voice_settings={"speed": 1.2}, emotion="B1_B2")
            await ctx.send_text("a ")
            await ctx.send_text("b", flush=True)
            await ctx.keep_alive()
            await settle(lambda: len(server.received) == 3)
        assert server.received[0] == {"text": "a ", "context_id": "c",
                                      "voice_settings": {"speed": 1.2}, "emotion": "B1_B2"}
        assert server.received[1] == {"text": "b", "context_id": "c", "flush": True}
        assert server.received[2] == {"text": "", "context_id": "c"}

    run(scenario)


def test_a_contexts_pronunciation_dictionaries_go_with_its_first_message_only() -> None:
    locator = {"pronunciation_dictionary_id": "d1", "version_id": "v1"}

    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c", pronunciation_dictionary_locators=[locator])
            await ctx.send_text("a ")
            await ctx.send_text("b", flush=True)
            await settle(lambda: len(server.received) == 2)
        assert server.received[0] == {"text": "a ", "context_id": "c",
                                      "pronunciation_dictionary_locators": [locator]}
        assert server.received[1] == {"text": "b", "context_id": "c", "flush": True}

    run(scenario)


def test_sending_after_the_end_is_refused_and_ending_twice_is_harmless() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server, fast(server) as client:
            ctx = client.create_context("c")
            await ctx.send_text("x", flush=True)
            with pytest.raises(ValueError, match="already exists"):
                client.create_context("c")
            await ctx.end_input()
            await ctx.end_input()
            await ctx.wait_done(timeout=2)
            await ctx.close()
            with pytest.raises(ContextClosedError):
                await ctx.send_text("more")
            assert server.kinds() == ["text+flush", "close_context"]
            assert client.get_context("c") is None
            assert client.create_context("c").state == "new"

    run(scenario)


def test_disconnect_sends_close_socket_and_the_client_reconnects() -> None:
    async def scenario() -> None:
        async with FakeTTSServer() as server:
            client = fast(server)
            await client.connect()
            ctx = client.create_context("c")
            await ctx.send_text("first", flush=True)
            await settle(lambda: ctx.received_bytes > 0)
            await client.disconnect()
            assert server.kinds()[-1] == "close_socket"
            assert client.get_active_context_count() == 0 and client.get_context("c") is None
            await client.connect()
            again = client.create_context("c")
            await again.send_text("second", flush=True)
            await again.end_input()
            await again.wait_done(timeout=2)
            assert again.get_all_audio() == audio_for("second")
            await client.disconnect()

    run(scenario)


def test_debug_switch_logs_messages_through_logging_not_print(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TTS_DEBUG", "1")
    logger = logging.getLogger("multi_ws_tts_sdk")
    saved = (logger.level, list(logger.handlers))

    async def scenario() -> None:
        async with FakeTTSServer() as server, TTSClient(server.url, "secret", "Demo") as client:
            ctx = client.create_context("c")
            await ctx.send_text("hello", flush=True)
            await ctx.end_input()
            await ctx.wait_done(timeout=2)

    try:
        with caplog.at_level(logging.DEBUG, logger="multi_ws_tts_sdk"):
            run(scenario)
        assert capsys.readouterr().out == ""
    finally:
        logger.setLevel(saved[0])
        logger.handlers[:] = saved[1]
    text = caplog.text
    assert "connecting to ws://127.0.0.1" in text and '"text":"hello"' in text
    assert "recv final for c" in text
    assert "secret" not in text

"""The seed README's snippets and the fixed defects, against the real server over a socket."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multi_ws_tts_sdk import ContextLimitError, TTSClient

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PCM_16K = {"model_id": "flash_v2_5", "format": "pcm_16000", "language_code": "zh"}
SLOW_MACHINE_SECONDS = 120.0


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 240.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(bounded())


def check_pcm16(audio: bytes, rate: int = 16000, min_seconds: float = 0.3) -> float:
    """Assert ``audio`` is 16-bit PCM speech at ``rate``: whole samples, long enough, audible."""
    assert len(audio) % 2 == 0, len(audio)
    samples = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768
    seconds = len(samples) / rate
    assert seconds >= min_seconds, seconds
    assert float(np.sqrt(np.mean(np.square(samples)))) > 0.01, "silence"
    return seconds


async def sleep_as_the_snippet(seconds: float, *contexts: Any) -> None:
    """The snippet's ``await asyncio.sleep(seconds)``, which is ample on an idle machine.
    On a loaded one (the suite runs on several processes) the speech may come later: then
    wait on, at most ``SLOW_MACHINE_SECONDS``, until every context has had audio and its
    audio has stopped coming for a second."""
    await asyncio.sleep(seconds)
    deadline = time.monotonic() + SLOW_MACHINE_SECONDS
    heard = [-1] * len(contexts)
    while time.monotonic() < deadline:
        now = [ctx.received_bytes for ctx in contexts]
        if all(now) and now == heard:
            return
        heard = now
        await asyncio.sleep(1.0)


@pytest.fixture
def ws_url(live_server) -> str:  # type: ignore[no-untyped-def]
    url: str = live_server.ws_url
    return url


def test_basic_usage_snippet(ws_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        client = TTSClient(base_url=ws_url, api_key="", voice_id="Demo")
        await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000",
                              "language_code": "zh"})
        ctx = client.create_context("ctx_001")
        ctx.on_audio(lambda audio, is_final:
                     print(f"收到音频: {len(audio)} 字节"))
        await ctx.send_text("你好，世界", flush=True)
        await sleep_as_the_snippet(3, ctx)
        await ctx.close()
        await client.disconnect()

    run(main)
    assert "收到音频: " in capsys.readouterr().out


def test_multi_context_snippet_with_five_contexts(ws_url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base_url, api_key, voice_id = ws_url, "", "Demo"

    async def main() -> None:
        client = TTSClient(base_url, api_key, voice_id)
        await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000"})
        contexts = [client.create_context(f"ctx_{i:03d}") for i in range(5)]
        for i, ctx in enumerate(contexts):
            ctx.on_audio(lambda audio, is_final, i=i:
                         print(f"[ctx_{i:03d}] {len(audio)} 字节"))
        await asyncio.gather(*[ctx.send_text(f"文本 {i}", flush=True)
                               for i, ctx in enumerate(contexts)])
        await sleep_as_the_snippet(5, *contexts)
        await asyncio.gather(*[ctx.close() for ctx in contexts])
        await client.disconnect()

    run(main)
    out = capsys.readouterr().out
    for i in range(5):
        assert f"[ctx_{i:03d}] " in out, out


def test_save_audio_snippet_writes_real_pcm(ws_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base_url, api_key, voice_id = ws_url, "", "Demo"

    async def main() -> None:
        client = TTSClient(base_url, api_key, voice_id)
        await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000"})
        ctx = client.create_context("ctx_001")
        await ctx.send_text("你好，世界", flush=True)
        await sleep_as_the_snippet(3, ctx)
        audio_data = ctx.get_all_audio()
        with open("output.pcm", "wb") as f:  # noqa: ASYNC230 - the seed snippet as written
            f.write(audio_data)
        print(f"音频已保存，大小: {len(audio_data)} 字节")
        await ctx.close()
        await client.disconnect()

    run(main)
    check_pcm16((tmp_path / "output.pcm").read_bytes())


def test_error_handling_snippet_with_a_refused_key(live_server_with_keys,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base_url, voice_id, params = live_server_with_keys.ws_url, "Demo", PCM_16K

    async def main() -> None:
        client = TTSClient(base_url, "not-the-key", voice_id)
        try:
            await client.connect(params)
        except ConnectionError as e:
            print(f"连接失败: {e}")
            return
        raise AssertionError("a refused key must raise ConnectionError")

    run(main, timeout=30)
    out = capsys.readouterr().out
    assert out.startswith("连接失败: ") and "not-the-key" not in out

    async def with_the_key() -> None:
        async with TTSClient(base_url, live_server_with_keys.api_key, voice_id,
                             query_params=params) as client:
            ctx = client.create_context("c")
            await ctx.send_text("好。", flush=True)
            await ctx.end_input()
            await ctx.wait_done(timeout=120)
            check_pcm16(ctx.get_all_audio(), min_seconds=0.1)

    run(with_the_key)


def test_end_input_ends_the_context_and_the_final_fires_on_complete(ws_url: str) -> None:
    async def scenario() -> None:
        async with TTSClient(ws_url, "", "Demo", query_params=PCM_16K) as client:
            completed = asyncio.Event()
            finals: list[bool] = []
            ctx = (client.create_context("c1")
                   .on_audio(lambda audio, is_final: finals.append(is_final))
                   .on_complete(completed.set))
            await ctx.send_text("你好。")
            await ctx.end_input()  # no flush before: end_input must still speak the text
            assert client.get_active_context_count() == 0
            await ctx.wait_done(timeout=120)
            assert completed.is_set() and finals and ctx.is_done
            check_pcm16(ctx.get_all_audio())

    run(scenario)


def test_stream_yields_the_same_audio_as_the_buffer(ws_url: str) -> None:
    async def scenario() -> None:
        async with TTSClient(ws_url, "", "Demo", query_params=PCM_16K) as client:
            ctx = client.create_context("s")
            await ctx.send_text("好的。", flush=True)
            await ctx.end_input()
            chunks = [chunk async for chunk in ctx.stream()]
            assert len(chunks) >= 1 and b"".join(chunks) == ctx.get_all_audio()

    run(scenario)


def test_sixth_context_is_refused_and_a_closed_one_frees_its_slot(ws_url: str) -> None:
    async def scenario() -> None:
        async with TTSClient(ws_url, "", "Demo", query_params=PCM_16K) as client:
            assert client.max_contexts == 5  # from the server's handshake
            contexts = [client.create_context(f"ctx_{i}") for i in range(5)]
            for ctx in contexts:
                await ctx.send_text("好")  # buffered: opens the context, speaks nothing yet
            with pytest.raises(ContextLimitError) as caught:
                client.create_context("ctx_5")
            assert caught.value.code == "MAX_CONTEXT_LIMIT_EXCEEDED"
            await contexts[0].end_input()
            assert client.get_active_context_count() == 4
            sixth = client.create_context("ctx_5")
            await sixth.send_text("好。", flush=True)
            await sixth.end_input()
            await sixth.wait_done(timeout=120)
            assert sixth.errors == [] and sixth.received_bytes > 0
            await asyncio.gather(*(ctx.close() for ctx in contexts))

    run(scenario)


def test_error_without_context_reaches_the_client_callback(ws_url: str) -> None:
    async def scenario() -> None:
        client = TTSClient(ws_url, "", "Demo", query_params={"inactivity_timeout": "1"})
        errors: list[str] = []
        client.on_error(lambda code, message: errors.append(code))
        await client.connect()
        for _ in range(100):
            if not client.is_connected():
                break
            await asyncio.sleep(0.1)
        assert errors[:1] == ["INPUT_TIMEOUT_EXCEEDED"], errors
        assert not client.is_connected()
        await client.disconnect()

    run(scenario, timeout=30)


def test_reconnect_after_disconnect(ws_url: str) -> None:
    async def scenario() -> None:
        client = TTSClient(ws_url, "", "Demo", query_params=PCM_16K)
        for attempt in range(2):
            await client.connect()
            ctx = client.create_context("same_id")
            await ctx.send_text("好。", flush=True)
            await ctx.end_input()
            await ctx.wait_done(timeout=120)
            check_pcm16(ctx.get_all_audio(), min_seconds=0.1)
            await client.disconnect()
            assert not client.is_connected(), attempt

    run(scenario)


@pytest.mark.parametrize("example", ["simple_example.py", "multi_context_example.py"])
def test_examples_run_against_the_server(ws_url: str, example: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        env={"TTS_BASE_URL": ws_url, "TTS_VOICE_ID": "Demo", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete" in done.stdout and " bytes" in done.stdout

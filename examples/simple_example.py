"""One context: speak a sentence, report each audio chunk and the completion.

    TTS_BASE_URL=ws://127.0.0.1:8000 TTS_VOICE_ID=Demo python examples/simple_example.py

``TTS_API_KEY`` is needed when the server has keys configured; ``TTS_DEBUG=1`` logs every
message.
"""

from __future__ import annotations

import asyncio
import os
import sys

from multi_ws_tts_sdk import TTSClient, TTSError


async def main() -> int:
    client = TTSClient(
        base_url=os.environ.get("TTS_BASE_URL", "ws://127.0.0.1:8000"),
        api_key=os.environ.get("TTS_API_KEY", ""),
        voice_id=os.environ.get("TTS_VOICE_ID", "Demo"),
    )
    try:
        await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000",
                              "language_code": "zh"})
    except ConnectionError as exc:
        print(f"connection failed: {exc}")
        return 1

    ctx = client.create_context("ctx_001")
    ctx.on_audio(lambda audio, is_final: print(f"received audio: {len(audio)} bytes"))
    ctx.on_error(lambda code, message: print(f"error: {code} - {message}"))
    ctx.on_complete(lambda: print("complete"))

    try:
        await ctx.send_text("你好，世界", flush=True)
        await ctx.end_input()
        await ctx.wait_done(timeout=120)
    except (TTSError, asyncio.TimeoutError) as exc:
        print(f"failed: {exc}")
        return 1
    finally:
        await ctx.close()
        await client.disconnect()
    print(f"total audio: {len(ctx.get_all_audio())} bytes (16 kHz 16-bit PCM)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

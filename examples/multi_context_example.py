"""Five contexts on one socket, spoken concurrently; then the sizes of their audio.

    TTS_BASE_URL=ws://127.0.0.1:8000 TTS_VOICE_ID=Demo python examples/multi_context_example.py
"""

from __future__ import annotations

import asyncio
import os
import sys

from multi_ws_tts_sdk import TTSClient, TTSContext, TTSError


def watch(ctx: TTSContext) -> TTSContext:
    name = ctx.context_id
    return (ctx.on_audio(lambda audio, is_final: print(f"[{name}] {len(audio)} bytes"))
            .on_error(lambda code, message: print(f"[{name}] error: {code} - {message}"))
            .on_complete(lambda: print(f"[{name}] complete")))


async def main() -> int:
    client = TTSClient(
        base_url=os.environ.get("TTS_BASE_URL", "ws://127.0.0.1:8000"),
        api_key=os.environ.get("TTS_API_KEY", ""),
        voice_id=os.environ.get("TTS_VOICE_ID", "Demo"),
    )
    try:
        await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000"})
    except ConnectionError as exc:
        print(f"connection failed: {exc}")
        return 1

    contexts = [watch(client.create_context(f"ctx_{i:03d}")) for i in range(5)]
    print(f"active contexts: {client.get_active_context_count()}")
    try:
        await asyncio.gather(*(ctx.send_text(f"文本 {i}", flush=True)
                               for i, ctx in enumerate(contexts)))
        await asyncio.gather(*(ctx.end_input() for ctx in contexts))
        print(f"active contexts after end_input: {client.get_active_context_count()}")
        await asyncio.gather(*(ctx.wait_done(timeout=180) for ctx in contexts))
    except (TTSError, asyncio.TimeoutError) as exc:
        print(f"failed: {exc}")
        return 1
    finally:
        await asyncio.gather(*(ctx.close() for ctx in contexts))
        await client.disconnect()
    for ctx in contexts:
        print(f"{ctx.context_id}: {len(ctx.get_all_audio())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

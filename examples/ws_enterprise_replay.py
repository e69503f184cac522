"""The seed SDK's messages, replayed with plain ``websockets`` on the enterprise path.

Five contexts at once, exactly as the published seed SDK sends them: the URL it builds
(``priority=dedicated_concurrency`` plus its query), the ``api-key`` header, then per
context ``send_text(..., flush=True)``, ``end_input()`` and ``close()``. Every context must
get audio (16 kHz PCM) and exactly one final message.

    make run    # in another terminal
    BREATHVOICE_WS_URL=ws://127.0.0.1:8000 python examples/ws_enterprise_replay.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from urllib.parse import urlencode

import websockets

BASE_URL = os.environ.get("BREATHVOICE_WS_URL", "ws://127.0.0.1:8000").rstrip("/")
API_KEY = os.environ.get("BREATHVOICE_API_KEY", "your_api_key")
VOICE_ID = "Demo"
TEXTS = ["你好，世界。", "文本 1，欢迎光临。", "今天天气很好。", "我们明天见。", "谢谢你的耐心。"]


async def main() -> int:
    query = {"model_id": "flash_v2_5", "format": "pcm_16000", "language_code": "zh"}
    url = (f"{BASE_URL}/enterprise/v1/tts/{VOICE_ID}/websocket/multi"
           f"?priority=dedicated_concurrency&{urlencode(query)}")
    contexts = [f"ctx_{i:03d}" for i in range(len(TEXTS))]
    audio = {context: 0 for context in contexts}
    finals = {context: 0 for context in contexts}
    async with websockets.connect(url, additional_headers={"api-key": API_KEY}) as ws:
        for context, text in zip(contexts, TEXTS, strict=True):  # send_text(text, flush=True)
            await ws.send(json.dumps({"context_id": context, "text": text, "flush": True}))
        for context in contexts:
            await ws.send(json.dumps({"context_id": context, "text": ""}))  # end_input()
            await ws.send(json.dumps({"context_id": context, "close_context": True}))  # close()
        while sum(finals.values()) < len(contexts):
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            context = message.get("context_id") or message.get("contextId")
            if "error" in message:
                print(f"error: {message['error']} - {message.get('message')}")
                return 1
            if message.get("audio"):
                audio[context] += len(base64.b64decode(message["audio"]))
            if message.get("is_final", message.get("isFinal")):
                finals[context] += 1
    for context in contexts:
        seconds = audio[context] / 2 / 16000
        print(f"[{context}] {audio[context]} bytes ({seconds:.2f} s), finals: {finals[context]}")
    ok = all(audio[c] > 0 and finals[c] == 1 for c in contexts)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

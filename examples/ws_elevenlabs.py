"""ElevenLabs' multi-context messages, sent with plain ``websockets`` to the /v1 path.

What an ElevenLabs client does on ``/v1/text-to-speech/{voice_id}/multi-stream-input``:
the ``xi-api-key`` header, an ``eleven_*`` model id, a first message per context with
``voice_settings`` and a single space, text streamed in pieces, ``flush`` at the end of
each utterance, ``close_context``, and finally ``close_socket``. Five contexts run at once;
each must get audio (mp3) and exactly one ``isFinal``, and the socket must close with 1000.

    make run    # in another terminal
    BREATHVOICE_WS_URL=ws://127.0.0.1:8000 python examples/ws_elevenlabs.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys

import websockets

BASE_URL = os.environ.get("BREATHVOICE_WS_URL", "ws://127.0.0.1:8000").rstrip("/")
API_KEY = os.environ.get("BREATHVOICE_API_KEY", "your_api_key")
VOICE_ID = "Demo"
UTTERANCES = [
    ["Hello! ", "How can I ", "help you today?"],
    ["你好，", "很高兴", "认识你。"],
    ["Your order ", "has been shipped."],
    ["请稍等，", "我马上为您查询。"],
    ["Thanks for calling, ", "goodbye!"],
]
VOICE_SETTINGS = {"stability": 0.5, "similarity_boost": 0.8, "speed": 1.0}


async def main() -> int:
    url = (f"{BASE_URL}/v1/text-to-speech/{VOICE_ID}/multi-stream-input"
           "?model_id=eleven_flash_v2_5&output_format=mp3_22050_32&inactivity_timeout=60")
    contexts = [f"turn-{i}" for i in range(len(UTTERANCES))]
    audio = {context: 0 for context in contexts}
    finals = {context: 0 for context in contexts}
    async with websockets.connect(url, additional_headers={"xi-api-key": API_KEY}) as ws:
        for context, pieces in zip(contexts, UTTERANCES, strict=True):
            await ws.send(json.dumps(
                {"text": " ", "voice_settings": VOICE_SETTINGS, "context_id": context}))
            for piece in pieces:
                await ws.send(json.dumps({"text": piece, "context_id": context}))
            await ws.send(json.dumps({"context_id": context, "flush": True}))
            await ws.send(json.dumps({"context_id": context, "close_context": True}))
        await ws.send(json.dumps({"close_socket": True}))
        try:
            async for raw in ws:
                message = json.loads(raw)
                if "error" in message:
                    print(f"error: {message['error']} - {message.get('message')}")
                    return 1
                context = message["contextId"]
                if message.get("audio"):
                    audio[context] += len(base64.b64decode(message["audio"]))
                if message.get("isFinal"):
                    finals[context] += 1
        except websockets.ConnectionClosedError as exc:
            print(f"connection closed abnormally: {exc}")
            return 1
        close_code = ws.close_code
    for context in contexts:
        print(f"[{context}] {audio[context]} bytes of mp3, finals: {finals[context]}")
    print(f"socket closed with {close_code}")
    ok = close_code == 1000 and all(audio[c] > 0 and finals[c] == 1 for c in contexts)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Keys and safe defaults on a real server process (real sockets, loopback).

The keyed server speaks with the tone engine, each chunk taking a quarter second like a
model call: what is checked here (scopes, quotas, slots, body limits) happens before and
around the engine, and the server starts without loading a model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import LiveServer, start_server, stop_server, tone_serve_command
from zips import good_zip

V1 = "/v1/text-to-speech/Demo/multi-stream-input"
ENTERPRISE = "/enterprise/v1/tts/Demo/websocket/multi"
TONE = tone_serve_command('ENGINES["tone"] = lambda _: ToneEngine(seconds_per_chunk=0.25)')


def test_a_public_address_without_keys_is_refused_before_binding(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "breathvoice", "serve", "--host", "0.0.0.0",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    said = " ".join((run.stderr + run.stdout).split())
    assert "refusing to listen on 0.0.0.0" in said and "breathvoice keys create" in said


def test_loopback_without_keys_says_so_at_start(live_server: LiveServer) -> None:
    assert "No API key configured" in live_server.log()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("keyed")
    store = KeyStore.open(Settings(data_dir=root / "data"))
    keys = {
        "admin": store.create("admin")[0],
        "plain": store.create("synthesize")[0],
        "small": store.create("synthesize", char_quota=40)[0],
        "single": store.create("synthesize", max_concurrent=1)[0],
    }
    store.close()
    server = start_server(root / "data", root / "server.log", TONE, BREATHVOICE_ENGINE="tone")
    yield server, keys
    stop_server(server)


def refusal(url: str, **headers: str) -> tuple[dict[str, Any], int]:
    with connect(url, additional_headers=headers, open_timeout=30) as ws:
        message = json.loads(ws.recv(timeout=30))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    return message, closed.value.rcvd.code


def test_scopes_and_missing_keys(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    url = f"{server.base_url}/breathvoice/upload-voice-group"
    for key, status in ((keys["plain"], 403), (None, 401), (keys["admin"], 200)):
        r = requests.post(url, headers={"xi-api-key": key} if key else {},
                          files={"file": ("Live.zip", good_zip("Live"), "application/zip")},
                          data={"voice_group_id": "Live"}, timeout=120)
        assert r.status_code == status, r.text
        if status != 200:
            assert r.json()["success"] is False
            assert not (server.data_dir / "voices" / "Live").exists()
    for path in (V1, ENTERPRISE):
        message, code = refusal(f"{server.ws_url}{path}")
        assert (message["error"], code) == ("INVALID_API_KEY", 1008)


def test_quota_on_the_socket(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    with connect(f"{server.ws_url}{V1}?output_format=pcm_24000",
                 additional_headers={"xi-api-key": keys["small"]}, open_timeout=30) as ws:
        messages: list[dict[str, Any]] = []
        for context, text in (("a", "Hello there, friend."), ("b", "This one is too long.")):
            ws.send(json.dumps({"text": text, "context_id": context, "flush": True}))
            if context == "a":  # 20 characters: spoken in full
                ws.send(json.dumps({"context_id": context, "close_context": True}))
                while not messages or not messages[-1].get("isFinal"):
                    messages.append(json.loads(ws.recv(timeout=60)))
        # b's text is over the quota: the server answers it and closes the socket at once,
        # so the test sends nothing after it (a send could race the close)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                messages.append(json.loads(ws.recv(timeout=60)))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert any(m.get("audio") for m in messages)
    errors = [m for m in messages if "error" in m]
    assert [(m["error"], m.get("contextId")) for m in errors] == [("INSUFFICIENT_QUOTA", "b")]
    r = requests.get(f"{server.base_url}/breathvoice/voice-groups",
                     headers={"xi-api-key": keys["small"]}, timeout=30)
    assert r.headers["character-quota-remaining"] == "20"


def test_over_concurrency_is_429_with_both_headers(
        keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    # long enough that the generation still holds its slot while the request below crosses
    # a loaded machine (the socket's close then cancels the rest)
    text = "One sentence after another keeps the engine busy for a while. " * 30
    with connect(f"{server.ws_url}{V1}?output_format=pcm_24000",
                 additional_headers={"xi-api-key": keys["single"]}, open_timeout=30) as ws:
        ws.send(json.dumps({"text": text, "context_id": "a", "flush": True}))
        assert json.loads(ws.recv(timeout=60)).get("audio")
        r = requests.post(f"{server.base_url}/breathvoice/single-tts",
                          headers={"xi-api-key": keys["single"]}, timeout=60,
                          json={"text": "Hi.", "filename": "Demo_a.wav", "voice_group_id": "Demo"})
    assert r.status_code == 429
    assert r.headers["current-concurrent-requests"] == "1"
    assert r.headers["maximum-concurrent-requests"] == "1"
    assert r.json()["code"] == "TOO_MANY_CONCURRENT_REQUESTS"


def test_a_chunked_body_over_the_limit_is_413_before_the_rest_is_read(
        keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    host, port = server.base_url.removeprefix("http://").split(":")
    limit = 2 * 1024 * 1024  # the default max_request_body_bytes
    chunk = b" " * 65536
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(f"POST /breathvoice/single-tts HTTP/1.1\r\nHost: {host}\r\n"
                     f"xi-api-key: {keys['admin']}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(limit // len(chunk) + 2):  # a little over the limit, never finished
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            received = conn.recv(65536)
            if not received:
                break
            reply += received
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"

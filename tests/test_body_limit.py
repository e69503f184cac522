"""Request bodies sent without Content-Length (chunked) are held to the same size limits.

The app is driven at the ASGI level, in the event loop of its own lifespan, so the test
sees exactly how many body bytes the server pulled before it answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from breathvoice.app import create_app
from breathvoice.engines.registry import ENGINES
from breathvoice.settings import Settings
from decoding import decode
from tone_engine import ToneEngine
from zips import good_zip

CHUNK = 16 * 1024
LIMIT = 4096


class Exchange:
    """One request fed to the app a chunk at a time; records what went each way."""

    def __init__(self, path: str, chunks: Iterator[bytes], content_type: str) -> None:
        self.scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"testserver"), (b"content-type", content_type.encode()),
                        (b"transfer-encoding", b"chunked")],
        }
        self._chunks = chunks
        self.pulled = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        chunk = next(self._chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def json(self) -> Any:
        return json.loads(self.body)


def endless(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setitem(ENGINES, "tone", lambda _: ToneEngine())
    app = create_app(Settings(data_dir=tmp_path, engine="tone", max_request_body_bytes=LIMIT,
                              max_upload_bytes=LIMIT))
    with TestClient(app) as client:
        yield client


def run(client: TestClient, exchange: Exchange) -> Exchange:
    async def call() -> None:
        await client.app(exchange.scope, exchange.receive, exchange.send)  # type: ignore[arg-type]

    assert client.portal is not None
    client.portal.call(call)
    return exchange


def test_an_endless_chunked_json_body_gets_413_after_one_chunk_past_the_limit(
        served: TestClient) -> None:
    exchange = run(served, Exchange("/breathvoice/single-tts", endless(b" " * CHUNK),
                                    "application/json"))
    assert exchange.status == 413
    assert exchange.json() == {"success": False, "code": "PAYLOAD_TOO_LARGE",
                               "error": f"request body is larger than {LIMIT} bytes",
                               "detail": f"request body is larger than {LIMIT} bytes"}
    assert exchange.headers["connection"] == "close"
    assert exchange.pulled <= LIMIT + CHUNK  # stopped at the first chunk over the limit


def test_openai_routes_answer_an_oversized_chunked_body_in_their_own_shape(
        served: TestClient) -> None:
    exchange = run(served, Exchange("/v1/audio/speech", endless(b" " * 1000),
                                    "application/json"))
    assert exchange.status == 413
    assert exchange.json()["error"]["code"] == "payload_too_large"
    assert exchange.pulled <= LIMIT + 1000


def test_an_oversized_chunked_upload_gets_413_and_writes_nothing(
        served: TestClient, tmp_path: Path) -> None:
    boundary = "bvboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"voice_group_id\"\r\n\r\n"
            f"Big\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"Big.zip\"\r\nContent-Type: application/zip\r\n\r\n").encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from endless(b"\0" * 256 * 1024)

    exchange = run(served, Exchange("/breathvoice/upload-voice-group", body(),
                                    f"multipart/form-data; boundary={boundary}"))
    assert exchange.status == 413
    assert exchange.json()["code"] == "PAYLOAD_TOO_LARGE"
    upload_limit = LIMIT + 1024 * 1024  # the upload cap plus room for the multipart envelope
    assert exchange.pulled <= upload_limit + 256 * 1024
    assert not (tmp_path / "voices" / "Big").exists()


def test_a_chunked_body_within_the_limit_is_served(served: TestClient, tmp_path: Path) -> None:
    request = json.dumps({"text": "Hello there.", "filename": "Demo_greeting.wav",
                          "voice_group_id": "Demo"}).encode()
    pieces = iter([request[:10], request[10:25], request[25:]])
    exchange = run(served, Exchange("/breathvoice/single-tts", pieces, "application/json"))
    assert exchange.status == 200, exchange.body
    assert exchange.json()["result"]["output_path"] == "Demo/Demo_greeting.wav"
    audio, rate = decode("wav", (tmp_path / "outputs" / "Demo" / "Demo_greeting.wav").read_bytes())
    assert rate == 24000 and len(audio) > 0


def test_a_chunked_upload_within_the_limit_is_not_refused_for_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENGINES, "tone", lambda _: ToneEngine())
    boundary = "bvboundary"
    archive = good_zip("Small")
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"voice_group_id\"\r\n\r\n"
            f"Small\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"Small.zip\"\r\nContent-Type: application/zip\r\n\r\n").encode()
    body += archive + f"\r\n--{boundary}--\r\n".encode()
    app = create_app(Settings(data_dir=tmp_path, engine="tone",
                              max_upload_bytes=len(archive) + 1))
    with TestClient(app) as client:
        pieces = iter([body[i:i + 8192] for i in range(0, len(body), 8192)])
        exchange = run(client, Exchange("/breathvoice/upload-voice-group", pieces,
                                        f"multipart/form-data; boundary={boundary}"))
    assert exchange.status == 200, exchange.body
    assert (tmp_path / "voices" / "Small").is_dir()

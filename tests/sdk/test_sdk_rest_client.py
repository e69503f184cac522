"""BreathVOICEClient / AsyncBreathVOICEClient against a scripted HTTP server."""

from __future__ import annotations

import asyncio
import email.parser
import json
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from fake_rest import Reply, ScriptedServer, scripted_server

from multi_ws_tts_sdk import (
    AsyncBreathVOICEClient,
    BadRequestError,
    BreathVOICEClient,
    BreathVOICEConnectionError,
    BreathVOICEError,
    ClientError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

GROUPS = {"voice_groups": ["Demo"], "count": 1}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as state:
        yield state


def client_for(server: ScriptedServer, **options: object) -> BreathVOICEClient:
    return BreathVOICEClient(server.url, backoff=0.01, **options)  # type: ignore[arg-type]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_guide_reads_return_the_server_json(server: ScriptedServer) -> None:
    server.on("GET", "/", Reply(200, {"name": "BreathVOICE"}))
    server.on("GET", "/breathvoice/voice-groups", Reply(200, GROUPS))
    server.on("GET", "/breathvoice/voice-groups/My%20Group", Reply(200, {"status": "ready"}))
    client = client_for(server)
    assert client.test_connection() is True
    assert client.get_voice_groups() == GROUPS
    assert client.get_voice_group_details("My Group") == {"status": "ready"}


def test_single_and_batch_post_the_guide_bodies(server: ScriptedServer) -> None:
    server.on("POST", "/breathvoice/single-tts", Reply(200, {"success": True}))
    server.on("POST", "/breathvoice/batch-tts", Reply(200, {"successful_count": 2}))
    client = client_for(server)
    client.single_tts("你好", "greeting_001.wav", "Demo")
    items = [{"text": "a", "filename": "a.wav", "voice_group_id": "Demo"}]
    client.batch_tts(items)
    client.batch_tts("Demo", [{"text": "b", "filename": "B1_b.wav"}])
    bodies = [json.loads(seen.body) for seen in server.seen]
    assert bodies[0] == {"text": "你好", "filename": "greeting_001.wav", "voice_group_id": "Demo"}
    assert server.seen[0].headers["content-type"] == "application/json"
    assert bodies[1] == {"requests": items}
    assert bodies[2] == {"requests": [{"voice_group_id": "Demo", "text": "b",
                                       "filename": "B1_b.wav"}]}


def test_upload_sends_a_multipart_form_the_server_can_parse(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.on("POST", "/breathvoice/upload-voice-group", Reply(200, {"voice_group_id": "New"}))
    archive = tmp_path / "NewCharacter.zip"
    archive.write_bytes(b"PK\x03\x04 zip bytes \r\n--not-a-boundary\x00")
    assert client_for(server).upload_voice_group(str(archive), "New", overwrite=True) == {
        "voice_group_id": "New"}
    seen = server.seen[0]
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {seen.headers['content-type']}\r\n\r\n".encode() + seen.body)
    parts: dict[str, Message] = {}
    for part in message.get_payload():
        assert isinstance(part, Message)
        parts[str(part.get_param("name", header="content-disposition"))] = part
    assert parts["voice_group_id"].get_payload(decode=True) == b"New"
    assert parts["overwrite"].get_payload(decode=True) == b"true"
    assert parts["file"].get_filename() == "NewCharacter.zip"
    assert parts["file"].get_payload(decode=True) == archive.read_bytes()


@pytest.mark.parametrize(("status", "error_type"), [
    (400, BadRequestError), (404, NotFoundError), (409, ConflictError), (418, ClientError),
])
def test_client_errors_are_typed_and_carry_status_and_body(
    server: ScriptedServer, status: int, error_type: type[BreathVOICEError]
) -> None:
    body = {"success": False, "error": "Voice group 'Nope' not found", "code": "VOICE_NOT_FOUND"}
    server.on("GET", "/breathvoice/voice-groups/Nope", Reply(status, body))
    with pytest.raises(error_type) as caught:
        client_for(server).get_voice_group_details("Nope")
    assert caught.value.status == status and caught.value.body == body
    assert caught.value.code == "VOICE_NOT_FOUND"
    assert "Voice group 'Nope' not found" in str(caught.value)
    assert len(server.seen) == 1  # 4xx is never retried


def test_5xx_and_429_are_retried_with_backoff_then_succeed(server: ScriptedServer) -> None:
    server.on("POST", "/breathvoice/batch-tts", Reply(503, {"error": "busy"}),
              Reply(429, {"error": "slow down"}, {"Retry-After": "0"}), Reply(200, {"ok": 1}))
    assert client_for(server).batch_tts([]) == {"ok": 1}
    assert len(server.seen) == 3


def test_retries_run_out_into_a_typed_error(server: ScriptedServer) -> None:
    server.on("GET", "/breathvoice/voice-groups", Reply(500, {"error": "engine fault"}))
    with pytest.raises(ServerError) as caught:
        client_for(server, max_retries=2).get_voice_groups()
    assert caught.value.status == 500 and len(server.seen) == 3
    server.on("GET", "/breathvoice/health", Reply(429, {"error": "too many"}))
    with pytest.raises(RateLimitError):
        client_for(server, max_retries=0).health()


def test_unreachable_server_is_a_connection_error_and_test_connection_says_false() -> None:
    client = BreathVOICEClient(closed_port_url(), backoff=0.01, max_retries=1)
    assert client.test_connection() is False
    with pytest.raises(BreathVOICEConnectionError) as caught:
        client.get_voice_groups()
    assert isinstance(caught.value, ConnectionError) and caught.value.status is None


def test_download_accepts_results_urls_and_paths(server: ScriptedServer, tmp_path: Path) -> None:
    wav = b"RIFF....WAVEfmt "
    server.on("GET", "/breathvoice/outputs/Demo/greeting_001.wav", Reply(200, raw=wav))
    client = client_for(server)
    url = f"{server.url}/breathvoice/outputs/Demo/greeting_001.wav"
    assert client.download({"audio_url": url}) == wav
    assert client.download({"output_path": "Demo/greeting_001.wav"}) == wav
    assert client.download({"success": True, "result": {"audio_url": url}}) == wav
    assert client.download("Demo/greeting_001.wav", dest=tmp_path / "out.wav") == wav
    assert (tmp_path / "out.wav").read_bytes() == wav
    with pytest.raises(ValueError):
        client.download({"filename": "x.wav"})


def test_api_key_and_base_url_from_the_environment(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREATHVOICE_URL", server.url + "/")
    monkeypatch.setenv("BREATHVOICE_API_KEY", "k-9")
    server.on("GET", "/breathvoice/voice-groups", Reply(200, GROUPS))
    assert BreathVOICEClient().get_voice_groups() == GROUPS
    assert server.seen[0].headers["authorization"] == "Bearer k-9"
    assert server.seen[0].headers["api-key"] == "k-9"


def test_guide_subclass_adding_headers_to_the_session_works(server: ScriptedServer) -> None:
    class SecureBreathVOICEClient(BreathVOICEClient):  # the guide's "API 密钥管理" snippet
        def __init__(self, base_url: str, api_key: str) -> None:
            super().__init__(base_url)
            self.api_key = api_key
            if self.api_key:
                self.session.headers.update({"Authorization": f"Bearer {self.api_key}"})

    server.on("GET", "/breathvoice/voice-groups", Reply(200, GROUPS))
    assert SecureBreathVOICEClient(server.url, "s-1").get_voice_groups() == GROUPS
    assert server.seen[0].headers["authorization"] == "Bearer s-1"


def test_async_client_runs_the_same_calls_concurrently(server: ScriptedServer) -> None:
    server.on("GET", "/breathvoice/voice-groups", Reply(200, GROUPS))
    server.on("GET", "/breathvoice/voice-groups/Nope", Reply(404, {"error": "not found"}))

    async def scenario() -> None:
        client = AsyncBreathVOICEClient(server.url, backoff=0.01)
        groups = await asyncio.gather(*(client.get_voice_groups() for _ in range(3)))
        assert groups == [GROUPS] * 3
        with pytest.raises(NotFoundError):
            await client.get_voice_group_details("Nope")

    asyncio.run(scenario())

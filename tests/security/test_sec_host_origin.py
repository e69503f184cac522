"""Web pages cannot use a key-less server: Host names and Origins are checked.

A page on another site may send a form to http://127.0.0.1:8000 or open a socket to it,
and a page that rebinds its own name to 127.0.0.1 reads answers as its own. So the
``Host`` must name the server (loopback names, ``BREATHVOICE_PUBLIC_HOSTS``, the host of
``public_base_url``), and while no key is configured, a request or handshake whose
``Origin`` is not the server's own is refused. Clients without an Origin keep working.
"""

from __future__ import annotations

import json

import pytest

from breathvoice.keys import KeyStore
from security.conftest import ORIGIN, WS_BASE, Secured
from zips import good_zip

GROUPS = "/breathvoice/voice-groups"
SOCKET = f"{WS_BASE}/v1/text-to-speech/Demo/multi-stream-input"
EVIL = "http://evil.example"


def upload_demo(client, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post("/breathvoice/upload-voice-group", headers=headers,
                       files={"file": ("Demo.zip", good_zip("Demo"),
                                       "application/zip")},
                       data={"voice_group_id": "Demo", "overwrite": "true"})


@pytest.mark.parametrize("path", [GROUPS, "/breathvoice/health", "/", "/docs"])
def test_a_rebound_host_name_is_refused_and_loopback_names_served(
        secured: Secured, path: str) -> None:
    with secured() as client:
        r = client.get(path, headers={"host": "evil.example:8000"})
        assert r.status_code == 403
        if path != "/docs":
            assert r.json()["success"] is False and r.json()["code"] == "FORBIDDEN"
        for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "127.3.4.5:9",
                     "[::1]:8000", "localhost."):
            assert client.get(path, headers={"host": host}).status_code == 200, host


def test_configured_public_names_are_served(secured: Secured) -> None:
    with secured(public_hosts=["tts.example.com"],
                 public_base_url="https://voice.example.org:1120") as client:
        for host in ("tts.example.com:1120", "voice.example.org", "TTS.example.com"):
            assert client.get(GROUPS, headers={"host": host}).status_code == 200, host
        assert client.get(GROUPS, headers={"host": "example.com"}).status_code == 403


def test_with_keys_the_host_is_checked_and_any_origin_may_call_with_a_key(
        secured: Secured, key_store: KeyStore) -> None:
    key, _ = key_store.create("admin")
    with secured() as client:
        r = client.get(GROUPS, headers={"host": "evil.example", "xi-api-key": key})
        assert r.status_code == 403
        r = client.get(GROUPS, headers={"origin": EVIL, "xi-api-key": key})
        assert r.status_code == 200
        assert client.get(GROUPS, headers={"origin": EVIL}).status_code == 401
        with client.websocket_connect(f"{SOCKET}?xi_api_key={key}",
                                      headers={"origin": EVIL}) as ws:
            ws.send_text(json.dumps({"text": "Hello there.", "context_id": "a", "flush": True}))
            assert "audio" in ws.receive_json()


def test_another_site_cannot_overwrite_a_voice_group(secured: Secured) -> None:
    with secured() as client:
        before = client.get(f"{GROUPS}/Demo").json()
        for origin in (EVIL, "null", "http://127.0.0.1:9999", "https://127.0.0.1:8000"):
            r = upload_demo(client, {"origin": origin})
            assert r.status_code == 403, origin
            assert r.json()["code"] == "FORBIDDEN"
        assert client.get(f"{GROUPS}/Demo").json() == before
        r = client.post("/breathvoice/single-tts", headers={"origin": EVIL}, json={
            "text": "hi", "filename": "a.wav", "voice_group_id": "Demo"})
        assert r.status_code == 403 and r.json()["result"]["status"] == "failed"
        assert client.post("/v1/audio/speech", headers={"origin": EVIL}, json={
            "model": "tts-1", "voice": "Demo", "input": "hi"}).status_code == 403
        # The server's own pages, and clients that send no Origin, are served.
        assert upload_demo(client, {"origin": ORIGIN}).status_code == 200
        assert upload_demo(client, {}).status_code == 200
        assert client.get("/docs", headers={"origin": ORIGIN}).status_code == 200
        assert client.get("/openapi.json", headers={"origin": ORIGIN}).status_code == 200


def test_another_site_cannot_open_a_socket(secured: Secured) -> None:
    with secured() as client:
        with client.websocket_connect(SOCKET, headers={"origin": EVIL}) as ws:
            refusal = ws.receive_json()
            assert refusal["error"] == "FORBIDDEN" and "audio" not in refusal
            closed = ws.receive()
            assert closed["type"] == "websocket.close" and closed["code"] == 1008
        with client.websocket_connect(SOCKET, headers={"origin": ORIGIN}) as ws:
            ws.send_text(json.dumps({"text": "Hello there.", "context_id": "a", "flush": True}))
            assert "audio" in ws.receive_json()

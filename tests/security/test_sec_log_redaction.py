"""Keys and tokens in query strings never reach the server's log.

Browsers cannot set headers on a WebSocket, so they pass ``?xi_api_key=`` or ``?token=``;
uvicorn logs each request line with its query. A real ``breathvoice serve`` process is
called with secrets in every spelling, then its log must show the request lines without
any of the secrets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import quote

import requests
from websockets.sync.client import connect

from conftest import LiveServer

KEY = "bv_KeyThatMustNotBeLogged0123456789"
WRONG = "WrongKeyThatMustNotBeLoggedEither42"
SOCKET = "/v1/text-to-speech/Demo/multi-stream-input"


def refusal(url: str) -> dict[str, object]:
    with connect(url, open_timeout=30) as ws:
        first: dict[str, object] = json.loads(ws.recv(timeout=30))
        return first


def speak_once(url: str) -> dict[str, object]:
    with connect(url, open_timeout=30) as ws:
        ws.send(json.dumps({"text": "Hello there.", "context_id": "a", "flush": True}))
        first: dict[str, object] = json.loads(ws.recv(timeout=30))
        return first


def test_secrets_in_query_strings_are_redacted_from_the_log(
        tone_server: Callable[..., LiveServer]) -> None:
    server = tone_server(BREATHVOICE_API_KEYS=f'["{KEY}"]')
    base, ws_base = server.base_url, server.ws_url
    token = requests.post(f"{base}/breathvoice/tokens", headers={"xi-api-key": KEY},
                          timeout=30).json()["token"]

    assert "audio" in speak_once(f"{ws_base}{SOCKET}?xi_api_key={KEY}&model_id=m")
    assert "audio" in speak_once(f"{ws_base}{SOCKET}?token={token}")
    assert "audio" in speak_once(f"{ws_base}{SOCKET}?authorization={quote('Bearer ' + KEY)}")
    assert refusal(f"{ws_base}{SOCKET}?XI_API_KEY={WRONG}")["error"] == "INVALID_API_KEY"
    assert requests.get(f"{base}/breathvoice/voice-groups?api_key={KEY}",
                        timeout=30).status_code == 200
    assert requests.get(f"{base}/breathvoice/voice-groups?xi%5Fapi%5Fkey={WRONG}",
                        timeout=30).status_code == 401

    deadline = time.monotonic() + 10
    while server.log().count("voice-groups") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log()
    assert KEY not in log and WRONG not in log and token not in log
    assert f"{SOCKET}?xi_api_key=[redacted]&model_id=m" in log
    assert f"{SOCKET}?token=[redacted]" in log
    assert "/breathvoice/voice-groups?api_key=[redacted]" in log

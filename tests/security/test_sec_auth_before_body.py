"""An upload without a valid key is refused from its headers, before its body arrives.

A real server process: the client declares a large body, sends a few bytes of it and
waits. The refusal must come at once; a server that read the body first would wait for
50 MiB that never come (the socket's timeout fails the test).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import LiveServer, start_server, stop_server, tone_serve_command

KEY = "right-key-0123456789"
DECLARED = 50 * 1024 * 1024
WAIT_SECONDS = 15.0
FIRST_BYTES = (b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n'
               b"Content-Type: application/zip\r\n\r\nPK\x03\x04")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server with a key for the tests below: each request is refused, so none changes
    what the next one meets."""
    root = tmp_path_factory.mktemp("keyed")
    server = start_server(root / "data", root / "server.log", tone_serve_command(),
                          BREATHVOICE_ENGINE="tone", BREATHVOICE_API_KEYS=f'["{KEY}"]')
    yield server
    stop_server(server)


def half_sent_upload(server: LiveServer, path: str, content_type: str,
                     extra_headers: str = "") -> tuple[bytes, float]:
    """Send the headers and a few body bytes; the answer's first bytes and how long it took."""
    port = int(server.base_url.rsplit(":", 1)[1])
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {DECLARED}\r\n"
            f"{extra_headers}\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS) as sock:
        started = time.monotonic()
        sock.sendall(head.encode("latin-1") + FIRST_BYTES)
        answer = sock.recv(65536)
        took = time.monotonic() - started
        while chunk := sock.recv(65536):  # the refusal closes the connection
            answer += chunk
        return answer, took


@pytest.mark.parametrize("key_header", ["", "xi-api-key: wrong-key\r\n",
                                        "Authorization: Bearer wrong-key\r\n"])
def test_an_upload_without_a_valid_key_is_refused_at_once(
        keyed_server: LiveServer, key_header: str) -> None:
    answer, took = half_sent_upload(keyed_server, "/breathvoice/upload-voice-group",
                                    "multipart/form-data; boundary=xx", key_header)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"INVALID_API_KEY" in answer
    assert took < WAIT_SECONDS


def test_a_json_request_without_a_key_is_refused_before_its_body(
        keyed_server: LiveServer) -> None:
    answer, _ = half_sent_upload(keyed_server, "/v1/audio/speech", "application/json")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_an_upload_from_another_site_is_refused_at_once(
        tone_server: Callable[..., LiveServer]) -> None:
    server = tone_server()  # no key: a page's Origin is what is checked
    answer, _ = half_sent_upload(server, "/breathvoice/upload-voice-group",
                                 "multipart/form-data; boundary=xx",
                                 "Origin: http://evil.example\r\n")
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]

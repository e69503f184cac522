"""Fixtures for the security tests: apps and servers addressed the way browsers would.

``secured`` builds an in-process app (tone engine) that a :class:`TestClient` calls as
``http://127.0.0.1:8000``, a loopback name, instead of Starlette's ``testserver``.
``tone_server`` starts a real ``breathvoice serve`` process on the tone engine, so its
logging and its HTTP parsing are the real ones, and stops it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from breathvoice.app import create_app
from breathvoice.engines.registry import ENGINES
from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import LiveServer, start_server, stop_server, tone_serve_command
from tone_engine import ToneEngine

ORIGIN = "http://127.0.0.1:8000"
WS_BASE = "ws://127.0.0.1:8000"
"""Starlette's TestClient opens sockets on ``testserver`` unless the URL says otherwise."""

Secured = Callable[..., TestClient]


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Secured:
    def make(**settings: Any) -> TestClient:
        monkeypatch.setitem(ENGINES, "tone", lambda _: ToneEngine())
        settings.setdefault("public_hosts", [])
        app = create_app(Settings(data_dir=tmp_path, engine="tone", **settings))
        return TestClient(app, base_url=ORIGIN)

    return make


@pytest.fixture
def key_store(tmp_path: Path) -> Iterator[KeyStore]:
    """The keys database of the ``secured`` app's data folder, as the CLI opens it."""
    store = KeyStore.open(Settings(data_dir=tmp_path))
    yield store
    store.close()


@pytest.fixture
def tone_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = start_server(tmp_path / "data", tmp_path / "server.log",
                              tone_serve_command(), BREATHVOICE_ENGINE="tone",
                              PYTHONUNBUFFERED="1", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)

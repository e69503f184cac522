"""Shared fixtures: real server processes on free loopback ports, and in-process apps."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

# Ray clusters started by the tests take the loopback address, so all their ports listen on
# 127.0.0.1 only (Ray reads this when it is imported).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from breathvoice.app import create_app
from breathvoice.db.engine import open_database
from breathvoice.engines.registry import ENGINES
from breathvoice.settings import Settings
from pg_server import PostgresServer, find_bin_dir
from tone_engine import ToneEngine

STARTUP_SECONDS = 180
DATABASE_NAME = "breathvoice.sqlite3"
"""The database's file in a data folder (Settings.database_url unset)."""
TESTS_DIR = Path(__file__).resolve().parent


RUN_TOGETHER = {
    # two Ray clusters never run at once
    "test_ray_cluster.py": "ray", "test_ray_serve.py": "ray",
    # voice matching on the real engine takes every core it is given, for a time budget
    "test_gradient_matching.py": "matching", "test_enrolment_live.py": "matching",
}
"""Test files that run one after the other on one worker under ``-n N``."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N --dist loadfile`` (``make test``): each test file runs whole on one worker, so
    its module fixtures (servers, engines) start once, and the files of a ``RUN_TOGETHER``
    group run on one worker, one after the other."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False  # the workers' order: see the hook below

    class FilesAndGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return RUN_TOGETHER.get(Path(path).name, path)

    return FilesAndGroups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker of ``-n N``: the ``RUN_TOGETHER`` groups (the longest runs) first, then
    the files with the most tests, so that the end of the run has only short files left to
    share out rather than one long group running alone."""
    if not hasattr(config, "workerinput"):
        return
    scope = {item: RUN_TOGETHER.get(item.path.name, str(item.path)) for item in items}
    tests = Counter(scope.values())
    items.sort(key=lambda item: (item.path.name not in RUN_TOGETHER, -tests[scope[item]]))


@dataclass
class LiveServer:
    base_url: str
    ws_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(data_dir: Path, log_path: Path, command: list[str] | None = None,
                 **env_overrides: str) -> LiveServer:
    """``breathvoice serve`` (or ``command``) on a free port, once its health check answers.

    The log is appended to, so a server restarted on the same data keeps one log.
    """
    port = free_port()
    # Voice matching is tested on its own (test_enrolment_*); here it would only spend CPU
    # in the background while other tests time their audio.
    env = {**os.environ, "BREATHVOICE_HOST": "127.0.0.1", "BREATHVOICE_PORT": str(port),
           "BREATHVOICE_DATA_DIR": str(data_dir), "BREATHVOICE_ENROLMENT": "off",
           "BREATHVOICE_ENGINE_WARMUP_TOKENS": "0",
           **env_overrides}
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command or [sys.executable, "-m", "breathvoice", "serve"],
                                   env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", data_dir,
                        process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if requests.get(f"{server.base_url}/breathvoice/health", timeout=2).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server did not start in {STARTUP_SECONDS} s:\n{server.log()}")


def tone_serve_command(setup: str = 'ENGINES["tone"] = lambda _: ToneEngine()') -> list[str]:
    """``breathvoice serve`` in a process where ``setup`` runs first: Python with the tests'
    helpers importable and ``ENGINES`` and ``ToneEngine`` at hand, registering the engines
    (and recognisers) to start with ``BREATHVOICE_ENGINE=...``."""
    script = "\n".join([
        "import sys",
        f"sys.path.insert(0, {str(TESTS_DIR)!r})",
        "from tone_engine import ToneEngine",
        "from breathvoice.engines.registry import ENGINES",
        setup,
        "from breathvoice.cli import main",
        'sys.argv = ["breathvoice", "serve"]',
        "main()",
    ])
    return [sys.executable, "-c", script]


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server (default engine, Demo group) on a free port, for the whole run."""
    root = tmp_path_factory.mktemp("live")
    server = start_server(root / "data", root / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def live_server_with_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Like ``live_server`` but only ``server.api_key`` is let in."""
    root = tmp_path_factory.mktemp("live_keys")
    key = "test-key-0123456789"
    server = start_server(root / "data", root / "server.log",
                          BREATHVOICE_API_KEYS=json.dumps([key]))
    server.api_key = key
    yield server
    stop_server(server)


@pytest.fixture(scope="session", autouse=True)
def _testclient_host() -> Iterator[None]:
    """Starlette's TestClient sends ``Host: testserver``: in-process apps answer to it,
    as a deployment answers to its names in ``BREATHVOICE_PUBLIC_HOSTS``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BREATHVOICE_PUBLIC_HOSTS", '["testserver"]')
        yield


AppFactory = Callable[..., TestClient]
"""Builds an in-process app on a tone engine (or the one given) with these settings.

Job takes are not checked unless a test asks (``job_qa=True``): tones are not speech."""


def socket_refusal(client: TestClient, url: str, **headers: str) -> tuple[dict[str, Any], int]:
    """The error message an in-process app's socket handshake at ``url`` gets, and the close
    code that follows it."""
    with client.websocket_connect(url, headers=headers) as ws:
        message = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return message, closed.value.code


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to the newest revision, to copy into a new data folder:
    its app then finds the schema in place instead of running every migration again."""
    path = tmp_path_factory.mktemp("migrated") / DATABASE_NAME
    open_database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        migrated_database: Path) -> AppFactory:
    def make(engine: ToneEngine | None = None, **settings: Any) -> TestClient:
        chosen = engine or ToneEngine()
        monkeypatch.setitem(ENGINES, "tone", lambda _: chosen)
        settings.setdefault("job_qa", False)
        if "database_url" not in settings and not (tmp_path / DATABASE_NAME).exists():
            shutil.copyfile(migrated_database, tmp_path / DATABASE_NAME)
        return TestClient(create_app(Settings(data_dir=tmp_path, engine="tone", **settings)))

    return make


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole run (see ``pg_server``)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = ("PostgreSQL (initdb, pg_ctl) not found: the PostgreSQL tests are SKIPPED "
                   "(Debian: apt-get install postgresql)")
        warnings.warn(pytest.PytestWarning(message), stacklevel=1)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    server.init()
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for one test, on each backend: SQLite in the test's dir, or a new
    schema on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'breathvoice.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.fresh_url()

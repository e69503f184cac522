"""Ray Serve mode on a simulated 2-node cluster (one CPU each), keys on, tone engine.

One engine replica per node. Checked through the ingress, over real sockets: keys (401,
429), a dropped socket cancelling synthesis on the replica, and an engine replica killed
mid-stream costing only the contexts it was speaking, the socket staying open, and a new
context getting audio. Multi-node on SQLite is refused with a clear message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import LiveServer, free_port
from test_hardening_live import test_over_concurrency_is_429_with_both_headers
from test_openai_compat import test_a_key_is_required_when_keys_are_configured

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
from ray.cluster_utils import Cluster  # noqa: E402

from breathvoice.cluster.deployments import APP_NAME, application  # noqa: E402
from breathvoice.cluster.launch import ClusterRefused, deploy  # noqa: E402

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[1]
V1 = "/v1/text-to-speech/Demo/multi-stream-input?output_format=pcm_24000&inactivity_timeout=180"
WAIT = 60.0

__all__ = ["test_over_concurrency_is_429_with_both_headers",
           "test_a_key_is_required_when_keys_are_configured"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("ray_cluster")
    data = root / "data"
    port = free_port()
    settings = Settings(data_dir=data, port=port, engine="tone_engine:from_settings",
                        engine_workers=1, engine_warmup_tokens=0, enrolment=False,
                        ray_engine_replicas=2)
    store = KeyStore.open(settings)
    keys = {"admin": store.create("admin")[0],
            "single": store.create("synthesize", max_concurrent=1)[0]}
    store.close()
    paths = [str(ROOT / "src"), str(ROOT / "packages/multi-ws-tts-sdk/src"), str(ROOT / "tests")]
    with pytest.MonkeyPatch.context() as patch:
        # the nodes' processes inherit these: they import this tree and its tone engine
        patch.setenv("PYTHONPATH", os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]))
        patch.setenv("TONE_SECONDS_PER_CHUNK", "0.2")
        cluster = Cluster(initialize_head=True, connect=True,
                          head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            with pytest.raises(ClusterRefused) as refused:
                deploy(settings)
            assert "2 Ray nodes with SQLite" in str(refused.value)
            assert "BREATHVOICE_DATABASE_URL=postgresql://" in str(refused.value)
            serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1",
                                                                  "port": port})
            serve.run(application(settings), name=APP_NAME, route_prefix="/")
            server = LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", data,
                                None, root / "server.log", keys["admin"])  # type: ignore[arg-type]
            yield server, keys
        finally:
            serve.shutdown()
            ray.shutdown()
            cluster.shutdown()


@pytest.fixture(scope="module")
def live_server_with_keys(keyed: tuple[LiveServer, dict[str, str]]) -> LiveServer:
    return keyed[0]


def replica_stats(count: int = 2, timeout: float = WAIT) -> dict[int, dict[str, Any]]:
    """Each engine replica's stats by pid (asked through the handle until all answered)."""
    handle = serve.get_deployment_handle("Engine", app_name=APP_NAME)
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        try:
            stats = handle.stats.remote().result(timeout_s=10)
        except Exception:  # a replica being replaced
            time.sleep(0.5)
            continue
        seen[stats["pid"]] = stats
    assert len(seen) == count, seen
    return seen


def socket(server: LiveServer) -> ClientConnection:
    return connect(f"{server.ws_url}{V1}", additional_headers={"xi-api-key": server.api_key},
                   open_timeout=30, max_size=None)


def speak(ws: ClientConnection, context: str, clauses: int) -> None:
    text = ", ".join(f"{context} part {i}" for i in range(clauses)) + "."
    ws.send(json.dumps({"text": text, "context_id": context, "flush": True}))
    ws.send(json.dumps({"context_id": context, "close_context": True}))


def read_until(ws: ClientConnection, done: Any, messages: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + WAIT
    while not done(messages):
        try:
            messages.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except TimeoutError:
            raise AssertionError([m for m in messages if not m.get("audio")]) from None


def test_engine_replicas_run_on_both_nodes(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    stats = replica_stats()
    assert len({s["node"] for s in stats.values()}) == 2


def test_the_ingress_runs_beside_the_proxy_on_the_head_node(
        keyed: tuple[LiveServer, dict[str, str]]) -> None:
    """Both are workers of the same raylet (the head's: Serve's proxy runs there only), so a
    message crosses no node between them."""
    raylets = {}
    for process in psutil.Process().children(recursive=True):  # this test's cluster only
        with contextlib.suppress(psutil.Error):
            title = " ".join(process.cmdline())
            for name in ("ray::ProxyActor", "ray::ServeReplica:breathvoice:BreathVOICE"):
                if title.startswith(name):
                    raylets.setdefault(name, set()).add(process.ppid())
    assert len(raylets) == 2, raylets
    assert raylets["ray::ServeReplica:breathvoice:BreathVOICE"] == raylets["ray::ProxyActor"]


def test_a_dropped_socket_stops_synthesis_on_the_replica(
        keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = keyed
    before = replica_stats()
    with socket(server) as ws:
        speak(ws, "dropped", 40)
        messages: list[dict[str, Any]] = []
        read_until(ws, lambda got: any(m.get("audio") for m in got), messages)
    deadline = time.monotonic() + 20
    while True:
        after = replica_stats()
        idle = all(not s["active"] for s in after.values())
        if idle or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert idle, after
    cancelled = sum(after[p]["cancelled"] - before[p]["cancelled"] for p in after)
    chunks = sum(after[p]["chunks"] - before[p]["chunks"] for p in after)
    assert cancelled == 1 and chunks < 10  # 40 asked for, stopped between chunks
    time.sleep(1.0)
    assert sum(s["chunks"] for s in replica_stats().values()) == sum(
        s["chunks"] for s in after.values())


def test_a_killed_replica_costs_only_its_contexts(
        keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = keyed
    contexts = ["ctxa", "ctxb", "ctxc", "ctxd"]
    messages: list[dict[str, Any]] = []
    with socket(server) as ws:
        for context in contexts:
            speak(ws, context, 16)
        read_until(ws, lambda got: {m.get("contextId") for m in got if m.get("audio")}
                   >= set(contexts), messages)
        stats = replica_stats()
        victim, survivor = sorted(stats.values(), key=lambda s: -len(s["active"]))
        speaking = {c for c in contexts if any(c in text for text in victim["active"])}
        elsewhere = {c for c in contexts if any(c in text for text in survivor["active"])}
        assert speaking and not speaking & elsewhere, stats
        os.kill(victim["pid"], signal.SIGKILL)

        def settled(got: list[dict[str, Any]]) -> bool:
            ended = {m.get("context_id") for m in got if m.get("error")}
            ended |= {m.get("contextId") for m in got if m.get("isFinal") is True}
            return ended >= set(contexts)

        read_until(ws, settled, messages)
        errors = [m for m in messages if m.get("error")]
        assert {m["context_id"] for m in errors} == speaking
        assert {m["error"] for m in errors} == {"STREAMING_SERVICE_ERROR"}
        assert all(str(server.data_dir) not in m["message"] for m in errors)
        finished = {m["contextId"] for m in messages if m.get("isFinal") is True}
        assert finished >= elsewhere
        # the socket stays open: a new context is spoken by a live replica
        fresh: list[dict[str, Any]] = []
        speak(ws, "fresh", 3)
        read_until(ws, lambda got: any(m.get("isFinal") for m in got
                                       if m.get("contextId") == "fresh"), fresh)
        assert any(m.get("audio") for m in fresh if m.get("contextId") == "fresh")
        assert not [m for m in fresh if m.get("error")]

"""Ray Serve mode on a simulated 2-node cluster (1 CPU per node) against single-process mode.

Starts a 2-node ``ray.cluster_utils.Cluster`` on this machine (each node 1 CPU, loopback),
deploys BreathVOICE with the real engine (one thread per replica), and drives it over the
multi-context WebSocket, one socket per context, with ``pcm_24000`` audio. Then the same
load against ``breathvoice serve`` in one process with two engine threads (the same two
CPUs). Prints, from one run:

  1. throughput (audio seconds per wall second), 2 engine replicas over 1, same load
                                                                         target >= 1.6
     in a steady state: 8 clients each open one context after another, and the audio
     that arrives in a 40 s window after 10 s of warm-up counts. The figure for one
     batch of the 8 contexts run to its end is printed beside it; it also counts the
     drain, when one replica has finished its share and waits for the other.
  2. median time to first audio of one context on an idle server, Ray over single-process,
     same text                                                           target <= 1.15
  3. p95 time to first audio with 20 contexts opened at once, both modes

    .venv/bin/python bench/scale.py     (the 'ray' extra; several minutes on 2 idle cores)

Each node's "1 CPU" is a physical core (Linux, 2 cores or more): every process of a node
(raylet, agents, and the workers the raylet starts: Serve's actors, the replicas) may run
on its core only (CPU affinity, inherited from this process while the node starts).

- core 0, the head node: GCS, raylet, Serve's controller and proxy, the ingress (it runs
  beside the proxy) and, with 2 replicas, the second engine replica. This client goes
  there too: a real client is on another machine, but this one has two cores, and the
  head is where its traffic lands anyway.
- core 1, the second node: its raylet and agents, and the first engine replica. An idle
  actor holds the head's CPU while 1 replica runs, so that replica always has a core of its
  own: the 2-over-1 ratio then counts in full what the head's processes take from the
  second replica.
- single-process mode: the server and this client on both cores, no other pinning.

After each steady throughput run it prints the CPU time of every process (Serve's proxy,
controller, ingress and engine replicas, raylets, GCS, agents, this client) and how busy
each core was; a core's time not spent by these was spent by other users of the machine.

With ``--tone SECONDS``, the tests' tone engine speaks instead, sleeping SECONDS per chunk
and using no CPU: the figures then show what the Ray path and its routing allow apart
from the cores the engine needs, and the CPU tables show what Ray itself spends (about a
minute).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from cores import CpuLedger, pinned, placement  # noqa: E402

from breathvoice.settings import Settings  # noqa: E402
from conftest import free_port, start_server, stop_server  # noqa: E402

RATE = 24000
PATH = "/v1/text-to-speech/Demo/multi-stream-input"
QUERY = f"output_format=pcm_{RATE}&inactivity_timeout=180"
SENTENCE = "您好，感谢您的来电，我马上为您查询订单的最新状态。"
LOAD = ["今天天气很好，我们去散步吧。这个周末我想在家里休息。",
        "请您稍等，我马上为您查询。谢谢您的耐心，订单已经发货了。",
        "还有问题的话，欢迎随时联系我们。祝您生活愉快，再见。",
        "我们明天早上再见。今天辛苦了，早点休息吧。"] * 2
IDLE_ROUNDS = 7
WARM, WINDOW = 10.0, 40.0  # seconds of the steady throughput measure
CROWD = 20


async def one_context(ws_url: str, text: str,
                      heard: list[tuple[float, int]] | None = None) -> tuple[float, float]:
    """(seconds to first audio, audio seconds) of one context on its own socket; each audio
    message's arrival time and samples are added to ``heard`` if given."""
    async with websockets.connect(f"{ws_url}{PATH}?{QUERY}", max_size=None,
                                  open_timeout=120) as ws:
        start = time.perf_counter()
        await ws.send(json.dumps({"text": text, "context_id": "c", "flush": True}))
        await ws.send(json.dumps({"context_id": "c", "close_context": True}))
        first, samples = 0.0, 0
        async for raw in ws:
            message = json.loads(raw)
            if message.get("error"):
                raise RuntimeError(message)
            if message.get("audio"):
                first = first or time.perf_counter() - start
                got = len(base64.b64decode(message["audio"])) // 2
                samples += got
                if heard is not None:
                    heard.append((time.perf_counter(), got))
            if message.get("isFinal"):
                return first, samples / RATE
    raise RuntimeError("socket closed before the context ended")


async def wave(ws_url: str, texts: list[str]) -> tuple[list[float], float]:
    """Every text on its own context at once: first-audio times, audio seconds per second."""
    start = time.perf_counter()
    results = await asyncio.gather(*(one_context(ws_url, text) for text in texts))
    wall = time.perf_counter() - start
    return [ttfa for ttfa, _ in results], sum(audio for _, audio in results) / wall


async def steady(ws_url: str, texts: list[str]) -> tuple[float, float]:
    """Audio seconds per second in a steady state: each text's client opens one context
    after another (a new one as soon as its last ends), and only the audio that arrives
    between WARM and WARM + WINDOW seconds counts, so neither the start nor the drain at
    the end (one replica idle while the other finishes) weighs on the figure. Also returns
    all the audio heard, drain included."""
    heard: list[tuple[float, int]] = []
    start = time.perf_counter()
    stop = start + WARM + WINDOW

    async def client(first: int) -> None:
        turn = first
        while time.perf_counter() < stop:
            await one_context(ws_url, texts[turn % len(texts)], heard)
            turn += 1

    await asyncio.gather(*(client(index) for index in range(len(texts))))
    counted = sum(got for at, got in heard if start + WARM <= at < stop)
    return counted / RATE / WINDOW, sum(got for _, got in heard) / RATE


async def idle_ttfa(ws_url: str) -> float:
    await one_context(ws_url, SENTENCE)  # warm
    times = [(await one_context(ws_url, SENTENCE))[0] for _ in range(IDLE_ROUNDS)]
    return statistics.median(times)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def engine_env(tone: float | None) -> dict[str, str]:
    """Environment of both modes' processes: this tree first, and the tone engine if asked."""
    paths = [str(ROOT / "src"), str(ROOT / "packages/multi-ws-tts-sdk/src"), str(ROOT / "tests")]
    env = {"PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    if tone is not None:
        env |= {"BREATHVOICE_ENGINE": "tone_engine:from_settings",
                "TONE_SECONDS_PER_CHUNK": str(tone)}
    return env


HEAD_CORE, NODE_CORE = 0, 1
SHOWN = ("Engine replica", "BreathVOICE replica", "ProxyActor", "ServeController")


def timed_wave(ws_url: str, texts: list[str], label: str) -> float:
    """The steady throughput of :func:`steady`, and the CPU time each process spent on it,
    after one :func:`wave` of the same texts (printed too: a batch run to its end)."""
    _, batch = asyncio.run(wave(ws_url, texts))
    ledger = CpuLedger()
    ledger.start()
    throughput, audio = asyncio.run(steady(ws_url, texts))
    usage, cores = ledger.stop()
    print(f"{label}: {throughput:.2f} audio s per s steady ({batch:.2f} for one batch of "
          f"{len(texts)} contexts run to its end)", flush=True)
    print(usage.report(audio, cores), flush=True)
    return throughput


def measure_ray(data: Path, tone: float | None) -> dict[str, float]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # nodes on loopback only
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from breathvoice.cluster.deployments import APP_NAME, application
    from breathvoice.cluster.launch import connect, node_options, set_node_environment, start_serve

    os.environ.update(engine_env(tone))  # the nodes' processes inherit it
    set_node_environment()
    port = free_port()
    base = {"data_dir": data, "port": port, "engine_workers": 1, "onnx_threads": 1,
            "engine_warmup_tokens": 0, "enrolment": False}
    settings = Settings(**base)  # type: ignore[arg-type]
    # The head node (GCS, raylet, Serve's controller, proxy and ingress) and this client on
    # one core, the second node on the other: each node's processes inherit its core.
    with pinned({HEAD_CORE}):
        cluster = Cluster(initialize_head=True, connect=False,
                          head_node_args={**node_options(settings), "num_cpus": 1})
        with pinned({NODE_CORE}):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        figures: dict[str, float] = {}
        try:
            connect(settings, cluster.address)
            start_serve(settings)
            # The one replica of the first run goes to the second node, where it has a core
            # to itself; an idle actor holds the head's CPU meanwhile, then leaves it to the
            # second replica, which shares its core with the head's processes and the client.
            head = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                  soft=False)
            hold = ray.remote(num_cpus=1)(Holder).options(scheduling_strategy=head).remote()
            ray.get(hold.ready.remote())
            ws_url = f"ws://127.0.0.1:{port}"
            for replicas in (1, 2):
                if replicas == 2:
                    ray.kill(hold)
                serve.run(application(settings.model_copy(
                    update={"ray_engine_replicas": replicas})), name=APP_NAME, route_prefix="/")
                asyncio.run(one_context(ws_url, SENTENCE))  # warm every path once
                print(f"ray, {replicas} engine replica(s), cores: {placement(SHOWN)}")
                figures[f"throughput_{replicas}"] = timed_wave(
                    ws_url, LOAD, f"ray, {replicas} engine replica(s)")
            figures["idle_ttfa"] = asyncio.run(idle_ttfa(ws_url))
            crowd, _ = asyncio.run(wave(ws_url, [SENTENCE] * CROWD))
            figures["p95_ttfa"] = p95(crowd)
        finally:
            serve.shutdown()
            ray.shutdown()
            cluster.shutdown()
    return figures


class Holder:
    """An idle actor that holds a node's CPU."""

    def ready(self) -> bool:
        return True


def measure_single(data: Path, log: Path, tone: float | None) -> dict[str, float]:
    # the server and this client share both cores, as the cluster and client do above
    with pinned({HEAD_CORE, NODE_CORE}):
        server = start_server(data, log, BREATHVOICE_ENGINE_WORKERS="2",
                              BREATHVOICE_ONNX_THREADS="1", **engine_env(tone))
        try:
            asyncio.run(one_context(server.ws_url, SENTENCE))
            throughput = timed_wave(server.ws_url, LOAD, "single process, 2 engine threads")
            idle = asyncio.run(idle_ttfa(server.ws_url))
            crowd, _ = asyncio.run(wave(server.ws_url, [SENTENCE] * CROWD))
        finally:
            stop_server(server)
    return {"throughput": throughput, "idle_ttfa": idle, "p95_ttfa": p95(crowd)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tone", type=float, metavar="SECONDS",
                        help="the tone engine, sleeping SECONDS per chunk, instead of Kokoro")
    tone = parser.parse_args().tone
    if not {HEAD_CORE, NODE_CORE} <= os.sched_getaffinity(0):
        parser.error(f"needs cores {HEAD_CORE} and {NODE_CORE}: one for each simulated node")
    with tempfile.TemporaryDirectory() as tmp:
        ray_figures = measure_ray(Path(tmp) / "ray", tone)
        single = measure_single(Path(tmp) / "single", Path(tmp) / "single.log", tone)
    scaling = ray_figures["throughput_2"] / ray_figures["throughput_1"]
    ttfa = ray_figures["idle_ttfa"] / single["idle_ttfa"]
    print(f"1. throughput, 2 engine replicas over 1:      {scaling:.2f}   (target >= 1.6)")
    print(f"2. median TTFA, Ray over single-process:      {ttfa:.2f}   (target <= 1.15; "
          f"{ray_figures['idle_ttfa'] * 1000:.0f} ms vs {single['idle_ttfa'] * 1000:.0f} ms)")
    print(f"3. p95 TTFA, {CROWD} contexts at once:            Ray "
          f"{ray_figures['p95_ttfa'] * 1000:.0f} ms, single-process "
          f"{single['p95_ttfa'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()

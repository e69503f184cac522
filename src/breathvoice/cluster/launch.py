"""Start BreathVOICE on Ray Serve: ``breathvoice serve --ray [--address auto]``.

Without an address, a one-node Ray cluster is started in this process, its node on
loopback (Ray 2.60 turns its token authentication on for such a cluster unless
``RAY_AUTH_MODE=disabled``), with what it does not need left out: no dashboard, no
metrics export unless ``BREATHVOICE_RAY_METRICS`` is on, no usage reports; with one
(``auto``: the cluster ``ray start`` made on this machine), the application is deployed
there. Serve's HTTP proxy listens on
``settings.host:settings.port`` (loopback by default) on the head node only.

Two refusals come first, each with a message that says what to do:
- a public bind without keys (the same rule as single-process mode);
- more than one node on SQLite: every node must see the same keys, quotas and jobs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import ray
from ray import serve

from breathvoice.cluster.deployments import APP_NAME, application
from breathvoice.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ClusterRefused(Exception):
    """The cluster cannot run BreathVOICE as configured; the message says why."""


def shared_state_problem(settings: Settings, nodes: list[dict[str, Any]]) -> str | None:
    """Why ``nodes`` cannot share this database, or None if they can."""
    alive = [node for node in nodes if node.get("Alive")]
    url = settings.database_url or "sqlite:///"
    if len(alive) <= 1 or url.split(":", 1)[0].startswith("postgresql"):
        return None
    return (f"refusing to run on {len(alive)} Ray nodes with SQLite: keys, quotas and jobs "
            "must be shared by every node. Set BREATHVOICE_DATABASE_URL=postgresql://... "
            "and BREATHVOICE_DATA_DIR to a folder every node mounts, or run on one node.")


NODE_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0"}
"""Set for the nodes this process starts, unless already set: Ray sends no usage reports."""


def node_options(settings: Settings) -> dict[str, Any]:
    """Options of the head node this process starts (``ray.init`` without an address, or a
    test cluster's head); :func:`set_node_environment` first. Ray's dashboard stays off, and
    so does its metrics collection (in every worker, raylet and node agent) unless asked."""
    return {"include_dashboard": False,
            "_system_config": {"enable_metrics_collection": settings.ray_metrics}}


def set_node_environment() -> None:
    """The environment of the nodes this process starts (:data:`NODE_ENVIRONMENT`)."""
    for name, value in NODE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def connect(settings: Settings, address: str | None) -> None:
    """Join the cluster at ``address`` or start a one-node cluster on loopback."""
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    cpus = settings.ray_num_cpus or None
    set_node_environment()
    ray.init(num_cpus=cpus, _node_ip_address=LOOPBACK, logging_level=logging.WARNING,
             **node_options(settings))


def refuse_unshared_state(settings: Settings) -> None:
    """Raise :class:`ClusterRefused` when the cluster's nodes cannot share the database."""
    problem = shared_state_problem(settings, ray.nodes())
    if problem is not None:
        raise ClusterRefused(problem)


def start_serve(settings: Settings) -> None:
    """Start Serve on the connected cluster: its proxy on the head node only, listening on
    ``settings.host:settings.port``."""
    serve.start(proxy_location="HeadOnly",
                http_options={"host": settings.host, "port": settings.port})


def deploy(settings: Settings) -> None:
    """Deploy the application on the connected cluster (raises :class:`ClusterRefused`)."""
    refuse_unshared_state(settings)
    start_serve(settings)
    serve.run(application(settings), name=APP_NAME, route_prefix="/", blocking=False)


def run(settings: Settings, address: str | None,
        ready: Callable[[], None] | None = None) -> None:
    """Connect, deploy, and serve until SIGINT or SIGTERM; then take it all down."""
    connect(settings, address)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # after Ray has set its own
        signal.signal(signum, lambda *_: stop.set())
    try:
        refuse_unshared_state(settings)
        try:
            deploy(settings)
            if ready is not None:
                ready()
            stop.wait()
        finally:
            serve.delete(APP_NAME) if address else serve.shutdown()
    finally:
        ray.shutdown()

"""``breathvoice serve``: the server in this process, or on Ray Serve with ``--ray``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from breathvoice.settings import Settings

LOOPBACK_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch between a node address other hosts can reach and the loopback address."""

console = Console()
err_console = Console(stderr=True)


def serve(
    host: Annotated[str | None, typer.Option(help="default BREATHVOICE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default BREATHVOICE_PORT")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="data folder (default BREATHVOICE_DATA_DIR)")] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="run on Ray Serve (the 'ray' extra; see docs/scaling.md)")] = False,
    address: Annotated[str | None, typer.Option(
        help="with --ray: the Ray cluster to join ('auto': the one on this machine); "
        "default: start a one-node cluster on loopback")] = None,
    engine_replicas: Annotated[int | None, typer.Option(
        min=1, help="with --ray: engine replicas at least "
        "(default BREATHVOICE_RAY_ENGINE_REPLICAS)")] = None,
) -> None:
    """Start the server."""
    import uvicorn

    from breathvoice.app import create_app
    from breathvoice.keys import exposure_problem
    from breathvoice.logs import redact_root_handlers, uvicorn_log_config

    given: dict[str, Any] = {"host": host, "port": port, "data_dir": data_dir,
             "ray_engine_replicas": engine_replicas}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    redact_root_handlers()
    if ray or address is not None:
        _serve_on_ray(settings, address)
        return
    application = create_app(settings)
    access = application.state.access
    problem = exposure_problem(settings, access)
    if problem is not None:
        err_console.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(code=2)
    if not access.keys_configured():
        console.print("No API key configured: authentication is off and the server only "
                      "listens on loopback. `breathvoice keys create` turns keys on.")
    elif not access.has_usable_keys():
        console.print("Every API key is revoked: the server refuses every API call until "
                      "`breathvoice keys create` makes a new one.")
    console.print(f"BreathVOICE on http://{settings.host}:{settings.port} "
                  f"(data: {settings.data_dir}, engine: {settings.engine})")
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info",
                log_config=uvicorn_log_config())


def _serve_on_ray(settings: Settings, address: str | None) -> None:
    from breathvoice.keys import AccessControl, exposure_problem

    access = AccessControl.from_settings(settings)
    problem = exposure_problem(settings, access)
    access.close()
    if problem is not None:
        err_console.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(code=2)
    if address is None:
        # A cluster of its own: Ray then takes this machine's loopback address as the node's,
        # so every port it opens (GCS, raylets, workers) listens on 127.0.0.1 only. It is
        # read when Ray is imported, hence before the import below.
        os.environ.setdefault(LOOPBACK_CLUSTER_ENV, "0")
    try:
        from breathvoice.cluster.launch import ClusterRefused, run
    except ImportError:
        err_console.print('[red]error:[/red] Ray Serve mode needs the ray extra: '
                          'pip install "breathvoice[ray]"')
        raise typer.Exit(code=2) from None

    def ready() -> None:
        console.print(f"BreathVOICE on Ray Serve at http://{settings.host}:{settings.port} "
                      f"(data: {settings.data_dir}, engine: {settings.engine}, "
                      f"engine replicas: {settings.ray_engine_replicas})")

    try:
        run(settings, address, ready)
    except ClusterRefused as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None

"""The Ray Serve application: ingress, engine and voice-matching deployments.

- **Ingress** (``BreathVOICE``): the same FastAPI app as single-process mode (REST, both
  WebSocket paths, OpenAI and ElevenLabs routes, studio), built on each replica with a
  :class:`~breathvoice.cluster.remote_engine.RemoteEngine`, so nothing synthesises there.
  Autoscaled on ongoing requests (an open socket is one). Its replicas run on the head
  node, beside Serve's only proxy, so a message crosses no node between the two.
- **Engine**: :class:`~breathvoice.cluster.replica.EngineReplica`, ``num_cpus`` = its
  threads (``engine_workers``), autoscaled on ongoing requests.
- **VoiceMatcher** (only when the engine can match voices and matching is on): one replica
  that matches uploaded groups on the shared data folder.

``build(args)`` is the entry point of ``serve run deploy/serve.yaml``; ``application()``
is what ``breathvoice serve --ray`` deploys.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import FastAPI
from ray import serve
from ray.serve import Application, Deployment
from ray.serve.config import RequestRouterConfig
from ray.serve.handle import DeploymentHandle

from breathvoice.cluster.replica import EngineReplica
from breathvoice.cluster.routing import LeastBusyRouter
from breathvoice.settings import Settings

log = logging.getLogger(__name__)

APP_NAME = "breathvoice"
MAX_REQUESTS_PER_ENGINE_THREAD = 16
"""Requests an engine replica holds per thread; its scheduler serves first chunks first,
so a new context waits for the chunks being made, not for whole texts queued before it."""
MAX_SOCKETS_PER_INGRESS = 1000
MAX_INGRESS_WORKERS = 64
ON_HEAD_NODE = {"node:__internal_head__": 0.001}
"""A sliver of the resource only Ray's head node has: an actor asking for it runs there."""
INTERNAL_CALLS = {"enable_access_log": False}
"""Logging of deployments only the ingress calls: no access line per call (the ingress logs
the request), warnings and errors as usual."""


@serve.ingress()
class Ingress:
    def __init__(self, settings: dict[str, Any], engine: DeploymentHandle[Any],
                 matcher: DeploymentHandle[Any] | None = None) -> None:
        self._settings = Settings(**settings)
        self._engine = engine
        self._matcher = matcher

    def __serve_build_asgi_app__(self) -> FastAPI:
        from breathvoice.app import create_app
        from breathvoice.cluster.progress import ProgressBoard
        from breathvoice.cluster.remote_engine import RemoteEngine

        engine, matcher = self._engine, self._matcher
        return create_app(self._settings, engine_factory=lambda settings: RemoteEngine(
            engine, matcher, progress=ProgressBoard.of(settings)))


class VoiceMatcher:
    """Voice matching of the groups on the shared data folder, one group at a time; the
    progress of each is published there for the ingress replicas
    (:mod:`breathvoice.cluster.progress`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from breathvoice.cluster.progress import ProgressBoard, ProgressPublisher
        from breathvoice.engines.registry import load_engine
        from breathvoice.matching.jobs import enrolment_jobs_for
        from breathvoice.voices.library import VoiceLibrary

        config = Settings(**settings)
        engine = load_engine(config)
        library = VoiceLibrary(config.voices_dir, engine, staging_dir=config.staging_dir)
        jobs = enrolment_jobs_for(library, engine, config)
        if jobs is None:
            raise RuntimeError("voice matching is off or unsupported by this engine")
        self._publisher = ProgressPublisher(jobs, ProgressBoard.of(config))
        jobs.start(resume=False)
        self._publisher.start(jobs.resume_pending())

    def submit(self, voice_group_id: str) -> None:
        self._publisher.submit(voice_group_id)

    def cancel(self, voice_group_id: str) -> None:
        self._publisher.cancel(voice_group_id)


def _deployment(body: type) -> Deployment:
    return cast(Deployment, serve.deployment(body))


def _matching_on(settings: Settings) -> bool:
    from breathvoice.matching.jobs import MATCHABLE_ENGINES

    return settings.enrolment and settings.engine in MATCHABLE_ENGINES


def replica_values(settings: Settings) -> dict[str, Any]:
    """An engine replica's settings. Unless ``onnx_threads`` is set, each model run may use
    the replica's CPUs (``engine_workers``), not the node's: ONNX Runtime would size every
    run's thread pool to the whole machine, and replicas sharing a node would oversubscribe
    its cores (one process's default, ``engine_workers`` runs of all cores, per replica)."""
    values = settings.model_dump(mode="json")
    return {**values, "onnx_threads": settings.onnx_threads or settings.engine_workers}


def application(settings: Settings) -> Application:
    """The three deployments, bound, for ``serve.run``."""
    threads = settings.engine_workers
    least = settings.ray_engine_replicas
    most = max(least, settings.ray_engine_max_replicas)
    values = settings.model_dump(mode="json")
    engine = _deployment(EngineReplica).options(
        name="Engine",
        ray_actor_options={"num_cpus": threads}, logging_config=INTERNAL_CALLS,
        max_ongoing_requests=threads * MAX_REQUESTS_PER_ENGINE_THREAD,
        autoscaling_config={"min_replicas": least, "initial_replicas": least,
                            "max_replicas": most, "target_ongoing_requests": threads},
        health_check_period_s=2, health_check_timeout_s=10,
        request_router_config=RequestRouterConfig(request_router_class=cast(Any, LeastBusyRouter)),
    ).bind(replica_values(settings))
    matcher = None
    if _matching_on(settings):
        matcher = _deployment(VoiceMatcher).options(
            name="VoiceMatcher", num_replicas=1,
            ray_actor_options={"num_cpus": settings.ray_matching_cpus},
            logging_config=INTERNAL_CALLS,
        ).bind(values)
    # The ingress's scheduler threads only wait on replicas: one per request the replicas
    # hold, so every new context reaches a replica at once and is served first there.
    waiting = min(MAX_INGRESS_WORKERS, threads * most * MAX_REQUESTS_PER_ENGINE_THREAD)
    ingress_values = {**values, "engine_workers": waiting,
                      "engine_warmup_tokens": 0, "enrolment": matcher is not None}
    return _deployment(Ingress).options(
        name="BreathVOICE",
        ray_actor_options={"num_cpus": settings.ray_ingress_cpus, "resources": ON_HEAD_NODE},
        max_ongoing_requests=MAX_SOCKETS_PER_INGRESS,
        autoscaling_config={"min_replicas": 1, "max_replicas": settings.ray_ingress_max_replicas,
                            "target_ongoing_requests": MAX_SOCKETS_PER_INGRESS // 2},
    ).bind(ingress_values, engine, matcher)


def build(args: dict[str, Any]) -> Application:
    """``serve run``'s builder: settings from the environment, overridden by ``args``.

    Serve's proxy listens where the config file's ``http_options`` say, not on
    ``BREATHVOICE_HOST``, so the single-process rule is checked against that address: no
    public bind without keys."""
    settings = Settings(**args)
    host = proxy_host()
    if host is not None:
        from breathvoice.keys import AccessControl, exposure_problem

        access = AccessControl.from_settings(settings)
        try:
            problem = exposure_problem(settings.model_copy(update={"host": host}), access)
        finally:
            access.close()
        if problem is not None:
            raise RuntimeError(problem)
    return application(settings)


def proxy_host() -> str | None:
    """The address Serve's HTTP proxy listens on, or None outside a running Serve instance."""
    import ray
    from ray.serve.context import _get_global_client

    if not ray.is_initialized():  # a build outside a cluster, as in the tests
        return None
    client = _get_global_client(raise_if_no_controller_running=False)
    return None if client is None else str(client.http_config.host)

"""The ASGI application: ``create_app(settings)``.

Nothing heavy happens at import: the engine, the voice library, the synthesis workers and
the background voice matching are built in the lifespan and left in ``app.state.services``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from breathvoice import __version__
from breathvoice.api import (
    auth,
    elevenlabs_compat,
    jobs_routes,
    keys_routes,
    openai_compat,
    outputs_routes,
    pronunciation_routes,
    qa_routes,
    rest,
    studio_routes,
    voice_group_routes,
    ws,
)
from breathvoice.api.deps import Services
from breathvoice.api.errors import install_error_handlers
from breathvoice.db import database_url, open_database
from breathvoice.engines.base import HearsElsewhere, MatchesElsewhere, WarmsUp
from breathvoice.engines.registry import EngineFactory, load_engine
from breathvoice.jobs.service import build_job_service
from breathvoice.keys import AccessControl
from breathvoice.keys.origins import OriginPolicy
from breathvoice.lines import LineRenderer
from breathvoice.matching.jobs import enrolment_jobs_for
from breathvoice.outputs import OutputStore
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.pronunciation.store import PronunciationStore
from breathvoice.qa.recognise import Transcriber, make_recogniser
from breathvoice.settings import Settings, get_settings
from breathvoice.streaming.admission import Admission
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.demo import ensure_demo_group
from breathvoice.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

DESCRIPTION = """\
Self-hosted voice service. Voice groups hold one reference clip per emotion; script lines
become audio files in a group's voice, the emotion chosen from the file name.
See the BreathVOICE API guide for every route of `/breathvoice/`.
"""


def build_services(settings: Settings, *, enrolment: bool = True,
                   engine_factory: EngineFactory = load_engine) -> Services:
    """Load the engine and open the data folders (slow: run it off the event loop).

    With ``enrolment`` (and matching on in the settings), groups are matched to their
    clips in the background, starting with any left unfinished by an earlier run; an
    engine that matches voices elsewhere (:class:`MatchesElsewhere`) is only told of swaps.
    """
    for folder in (settings.voices_dir, settings.outputs_dir, settings.staging_dir):
        folder.mkdir(parents=True, exist_ok=True)
    engine = engine_factory(settings)
    if settings.engine_warmup_tokens and isinstance(engine, WarmsUp):
        engine.warm_up(settings.engine_workers, settings.engine_warmup_tokens)
    library = VoiceLibrary(settings.voices_dir, engine, staging_dir=settings.staging_dir)
    library.recover_staging()
    if settings.create_demo_group:
        ensure_demo_group(library, engine, settings.demo_group_id)
    jobs = None
    if enrolment and isinstance(engine, MatchesElsewhere):
        library.enrolment = engine.voice_matching()
    elif enrolment:
        jobs = enrolment_jobs_for(library, engine, settings)
    if jobs is not None:
        jobs.start()
    admission = Admission(settings.admission, settings.engine_workers, settings.max_live_jobs)
    scheduler = SynthesisScheduler(engine, settings.engine_workers,
                                   settings.engine_workers - settings.job_reserved_workers,
                                   policy=settings.scheduler_policy, admission=admission)
    outputs = OutputStore(settings.outputs_dir, settings.output_retention_hours * 3600,
                          settings.output_max_bytes)
    store = PronunciationStore(open_database(database_url(settings)),
                               settings.max_dictionary_rules)
    pronunciation = PronunciationService(store, library, settings)
    lines = LineRenderer(library, scheduler, outputs, settings.max_text_chars, pronunciation)
    # in Ray Serve mode, speech is heard on the engine replicas, never here
    recogniser: Transcriber = (engine.speech_recogniser() if isinstance(engine, HearsElsewhere)
                               else make_recogniser(settings))
    if settings.qa_preload:
        recogniser.warm()
    jobs_service = build_job_service(settings, library, scheduler, pronunciation,
                                     recogniser if settings.job_qa else None)
    return Services(settings=settings, engine=engine, library=library,
                    scheduler=scheduler, outputs=outputs, lines=lines,
                    pronunciation=pronunciation, recogniser=recogniser, jobs=jobs_service)


def create_app(settings: Settings | None = None, *,
               engine_factory: EngineFactory = load_engine) -> FastAPI:
    """The app; ``engine_factory`` builds what speaks (default: the engine in this process)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(
            lambda: build_services(settings, engine_factory=engine_factory))
        app.state.services = services
        if services.jobs is not None:
            await services.jobs.start()
        log.info("BreathVOICE %s ready: engine %s, %d voice groups", __version__,
                 services.engine.name, len(services.library.list_ids()))
        try:
            yield
        finally:
            if services.jobs is not None:
                await services.jobs.close()
            if services.library.enrolment is not None:
                await run_in_threadpool(services.library.enrolment.close)
            await run_in_threadpool(services.scheduler.close)
            services.pronunciation.store.db.dispose()
            await run_in_threadpool(services.recogniser.close)
            access.close()

    app = FastAPI(title="BreathVOICE", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    access = AccessControl.from_settings(settings)
    app.state.access = access
    app.state.origins = OriginPolicy(settings.public_hosts, settings.public_base_url,
                                     settings.host)
    app.add_middleware(auth.AccessMiddleware)
    install_error_handlers(app)
    app.include_router(rest.public_router)
    app.include_router(auth.router)
    app.include_router(keys_routes.router)
    app.include_router(rest.router)
    app.include_router(voice_group_routes.router)
    app.include_router(outputs_routes.router)
    app.include_router(jobs_routes.router)
    app.include_router(ws.router)
    app.include_router(openai_compat.router)
    app.include_router(elevenlabs_compat.router)
    app.include_router(qa_routes.router)
    app.include_router(pronunciation_routes.router)
    studio_routes.install(app)
    return app

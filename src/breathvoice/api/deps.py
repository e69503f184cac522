"""Request dependencies: what the lifespan loaded, as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from breathvoice.api.auth import RequireApiKey, access_control
from breathvoice.api.metering import SpeechMeter
from breathvoice.engines.base import Engine
from breathvoice.jobs.service import JobService
from breathvoice.keys.access import Principal
from breathvoice.lines import LineRenderer
from breathvoice.outputs import OutputStore
from breathvoice.pronunciation.service import PronunciationService
from breathvoice.qa.recognise import Transcriber
from breathvoice.settings import Settings
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.voices.library import VoiceLibrary


@dataclass
class Services:
    """Everything the lifespan builds; stored as ``app.state.services``."""

    settings: Settings
    engine: Engine
    library: VoiceLibrary
    scheduler: SynthesisScheduler
    outputs: OutputStore
    lines: LineRenderer
    pronunciation: PronunciationService
    recogniser: Transcriber
    """The one speech recogniser of the checks (``/breathvoice/qa`` and job takes)."""
    jobs: JobService | None = None
    """Script jobs; None until the lifespan has opened the database."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_meter(request: Request, principal: Principal = RequireApiKey) -> SpeechMeter:
    """What the caller is charged for the text a synthesis route speaks."""
    return SpeechMeter(access_control(request.app), principal, request.state)


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MeterDep = Annotated[SpeechMeter, Depends(get_meter)]
PrincipalDep = Annotated[Principal, RequireApiKey]
"""The caller (``ANONYMOUS`` while no key is configured)."""

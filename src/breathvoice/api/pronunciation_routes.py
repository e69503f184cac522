"""Pronunciation dictionaries over HTTP: ElevenLabs' routes, and a voice group's own list.

ElevenLabs' ``/v1/pronunciation-dictionaries`` (their SDK's ``pronunciation_dictionaries``):
``add-from-rules``, ``add-from-file`` (PLS), list, get, ``{id}/add-rules``,
``{id}/remove-rules``, ``{id}/set-rules`` (each makes a new version) and
``{id}/{version_id}/download`` (PLS). Errors take ElevenLabs' shape.

``/breathvoice/voice-groups/{id}/pronunciation-dictionaries``: GET lists and PUT sets
(``admin``) the dictionaries the group always applies, kept in its manifest.

Any key may read and write dictionaries; a single-use browser token may only read them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from breathvoice.api.auth import RequireAdmin, RequireApiKey
from breathvoice.api.deps import ServicesDep
from breathvoice.api.uploads import read_upload
from breathvoice.errors import Forbidden, InvalidRequest, PayloadTooLarge
from breathvoice.keys.access import Principal
from breathvoice.pronunciation.pls import parse_pls, to_pls
from breathvoice.pronunciation.rules import (
    Rule,
    dictionary_description,
    dictionary_name,
    with_rules,
    without_rules,
)
from breathvoice.pronunciation.store import Dictionary, PronunciationStore, locators_of
from breathvoice.voices.manifest_records import DictionaryRef

PREFIX = "/v1/pronunciation-dictionaries"
router = APIRouter(tags=["pronunciation dictionaries"], dependencies=[RequireApiKey])
MAX_PAGE = 100


async def _editor(principal: Principal = RequireApiKey) -> Principal:
    if principal.single_use:
        raise Forbidden("a single-use token may not change pronunciation dictionaries")
    return principal


Editor = Annotated[Principal, Depends(_editor)]


def _store(services: ServicesDep) -> PronunciationStore:
    return services.pronunciation.store


StoreDep = Annotated[PronunciationStore, Depends(_store)]


def _rules(body: dict[str, Any], field: str = "rules") -> list[Rule]:
    items = body.get(field)
    if not isinstance(items, list):
        raise InvalidRequest(f"'{field}' must be a list of rules")
    return [Rule.from_json(item) for item in items]


def _created(found: Dictionary) -> dict[str, Any]:
    return {"id": found.id, "name": found.name, "created_by": found.created_by,
            "creation_time_unix": int(found.created_at), "version_id": found.version_id,
            "version_rules_num": len(found.rules), "description": found.description,
            "permission_on_resource": "admin"}


def _version(found: Dictionary) -> dict[str, Any]:
    return {"id": found.id, "version_id": found.version_id,
            "version_rules_num": len(found.rules)}


@router.post(f"{PREFIX}/add-from-rules", summary="Create a dictionary from rules")
async def add_from_rules(body: dict[str, Any], store: StoreDep,
                         principal: Editor) -> dict[str, Any]:
    rules = _rules(body)
    name = dictionary_name(body.get("name"))
    description = dictionary_description(body.get("description"))
    return _created(await run_in_threadpool(store.create, name, description, rules,
                                            principal.key_id))


@router.post(f"{PREFIX}/add-from-file", summary="Create a dictionary from a PLS file")
async def add_from_file(services: ServicesDep, principal: Editor,
                        name: Annotated[str, Form()],
                        file: Annotated[UploadFile | None, File()] = None,
                        description: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    settings = services.settings
    rules: list[Rule] = []
    if file is not None:
        try:
            data = await read_upload(file, settings.max_pls_bytes)
        except PayloadTooLarge as exc:
            raise InvalidRequest(f"the PLS file is larger than {settings.max_pls_bytes} "
                                 "bytes") from exc
        rules = await run_in_threadpool(parse_pls, data, max_bytes=settings.max_pls_bytes,
                                        max_rules=settings.max_dictionary_rules)
    store = services.pronunciation.store
    return _created(await run_in_threadpool(
        store.create, dictionary_name(name), dictionary_description(description), rules,
        principal.key_id))


@router.get(PREFIX, summary="List dictionaries")
async def list_dictionaries(store: StoreDep, cursor: str | None = None,
                            page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 30
                            ) -> dict[str, Any]:
    offset = int(cursor) if cursor and cursor.isdigit() else 0
    found, more = await run_in_threadpool(store.page, offset, page_size)
    return {"pronunciation_dictionaries": [item.metadata() for item in found],
            "next_cursor": str(offset + len(found)) if more else None, "has_more": more}


@router.get(f"{PREFIX}/{{dictionary_id}}", summary="A dictionary and its latest rules")
async def get_dictionary(dictionary_id: str, store: StoreDep) -> dict[str, Any]:
    found = await run_in_threadpool(store.get, dictionary_id)
    return {**found.metadata(), "rules": [rule.to_json() for rule in found.rules]}


@router.post(f"{PREFIX}/{{dictionary_id}}/add-rules", summary="Add or replace rules")
async def add_rules(dictionary_id: str, body: dict[str, Any], store: StoreDep,
                    _: Editor) -> dict[str, Any]:
    added = _rules(body)
    return _version(await run_in_threadpool(
        store.change, dictionary_id, lambda current: with_rules(current, added)))


@router.post(f"{PREFIX}/{{dictionary_id}}/set-rules", summary="Replace all rules")
async def set_rules(dictionary_id: str, body: dict[str, Any], store: StoreDep,
                    _: Editor) -> dict[str, Any]:
    rules = _rules(body)
    return _version(await run_in_threadpool(store.change, dictionary_id, lambda _: rules))


@router.post(f"{PREFIX}/{{dictionary_id}}/remove-rules", summary="Remove rules by string")
async def remove_rules(dictionary_id: str, body: dict[str, Any], store: StoreDep,
                       _: Editor) -> dict[str, Any]:
    strings = body.get("rule_strings")
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        raise InvalidRequest("'rule_strings' must be a list of strings")
    return _version(await run_in_threadpool(
        store.change, dictionary_id, lambda current: without_rules(current, strings)))


@router.get(f"{PREFIX}/{{dictionary_id}}/{{version_id}}/download", response_class=Response,
            summary="One version as a PLS file",
            responses={200: {"content": {"application/pls+xml": {}}}})
async def download(dictionary_id: str, version_id: str, store: StoreDep) -> Response:
    rules = await run_in_threadpool(store.rules, dictionary_id, version_id)
    return Response(to_pls(list(rules)), media_type="application/pls+xml", headers={
        "Content-Disposition": f'attachment; filename="{dictionary_id}.pls"'})


@router.get("/breathvoice/voice-groups/{voice_group_id}/pronunciation-dictionaries",
            tags=["voice groups"], summary="Dictionaries a voice group applies")
async def group_dictionaries(voice_group_id: str, services: ServicesDep) -> dict[str, Any]:
    details = await run_in_threadpool(services.library.details, voice_group_id)
    return {"voice_group_id": voice_group_id,
            "pronunciation_dictionary_locators": details["pronunciation_dictionaries"],
            "pronunciation_file": details["pronunciation_file"]}


@router.put("/breathvoice/voice-groups/{voice_group_id}/pronunciation-dictionaries",
            tags=["voice groups"], dependencies=[RequireAdmin],
            summary="Set the dictionaries a voice group always applies")
async def set_group_dictionaries(voice_group_id: str, body: dict[str, Any],
                                 services: ServicesDep) -> dict[str, Any]:
    """Body: ``{"pronunciation_dictionary_locators": [{pronunciation_dictionary_id,
    version_id?}, ...]}`` (at most 3; without ``version_id`` the latest version applies)."""
    locators = locators_of(body.get("pronunciation_dictionary_locators"))

    def apply() -> None:
        for locator in locators:  # each must exist (and its version, when pinned)
            services.pronunciation.store.rules(locator.dictionary_id, locator.version_id)
        services.library.set_dictionaries(voice_group_id, [
            DictionaryRef(pronunciation_dictionary_id=locator.dictionary_id,
                          version_id=locator.version_id) for locator in locators])

    await run_in_threadpool(apply)
    return await group_dictionaries(voice_group_id, services)

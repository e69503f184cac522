"""Property-based attack on every route of our own ``/openapi.json`` (schemathesis).

The app runs in process on the tone engine, so the short budget goes into requests, not
into speech. Every operation is tried with an admin key and with a synthesize-scope key;
the only acceptable outcomes are documented, well-formed responses: no 5xx and no response
that breaks its schema. The budget (examples per operation) is set by
``BREATHVOICE_SCHEMATHESIS_EXAMPLES`` (default 6, to keep ``make test`` short).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from breathvoice.app import create_app
from breathvoice.engines.registry import ENGINES
from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from tone_engine import ToneEngine

EXAMPLES = int(os.environ.get("BREATHVOICE_SCHEMATHESIS_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("schemathesis")
    store = KeyStore.open(Settings(data_dir=data_dir))
    keys = {scope: store.create(scope)[0] for scope in ("admin", "synthesize")}  # type: ignore[arg-type]
    store.close()
    saved = ENGINES.get("tone")
    ENGINES["tone"] = lambda _: ToneEngine()
    app = create_app(Settings(data_dir=data_dir, engine="tone", max_text_chars=200,
                              max_upload_bytes=256 * 1024, job_qa=False))  # tones: no speech
    try:
        with TestClient(app):  # runs the lifespan: services stay on app.state
            yield app, keys
    finally:
        if saved is None:
            ENGINES.pop("tone", None)
        else:
            ENGINES["tone"] = saved


@pytest.fixture(scope="module")
def api_schema(served: tuple[Any, dict[str, str]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", served[0])


def _attack(operation: Any, keys: dict[str, str], failures: list[str]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def attack(case: Any) -> None:
        for scope, key in keys.items():  # an admin key, then a synthesize-scope key
            try:
                case.call_and_validate(headers={"xi-api-key": key},
                                       checks=[not_a_server_error, response_schema_conformance])
            except Exception as exc:  # every failure is collected and shown together
                failures.append(f"{operation.label} ({scope}): {str(exc)[:600]}")
                return

    attack()


def test_no_server_error_and_no_schema_violation(
        api_schema: Any, served: tuple[Any, dict[str, str]]) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        _attack(operation, served[1], failures)
    assert not failures, "\n\n".join(failures)


def test_the_schema_covers_every_http_route(api_schema: Any) -> None:
    paths = set(api_schema.raw_schema["paths"])
    assert {"/breathvoice/single-tts", "/breathvoice/upload-voice-group",
            "/breathvoice/tokens", "/breathvoice/keys", "/breathvoice/keys/{key_id}",
            "/v1/audio/speech"} <= paths



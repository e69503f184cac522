"""The pieces of Ray Serve mode that need no cluster: what crosses, the refusal, the pool."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from breathvoice.engines.base import CancelToken, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError, VoiceGroupNotFound
from breathvoice.settings import Settings

pytest.importorskip("ray.serve")
from breathvoice.cluster.launch import shared_state_problem  # noqa: E402
from breathvoice.cluster.replica import PriorityPool  # noqa: E402
from breathvoice.cluster.wire import (  # noqa: E402
    Failure,
    VoiceRefs,
    options_from_wire,
    options_to_wire,
    voice_digest,
)

NODE = {"Alive": True}


def state(level: float) -> VoiceState:
    return VoiceState("tone", {"level": np.array([level], np.float32)}, {"method": "stock"})


def test_a_voice_is_put_once_and_named_by_its_content() -> None:
    puts: list[VoiceState] = []
    refs = VoiceRefs(lambda s: puts.append(s) or len(puts))
    voice = state(0.3)
    first, again = refs(voice), refs(voice)
    assert first is again and puts == [voice]
    assert first.digest == voice_digest(state(0.3)) != voice_digest(state(0.4))


def test_options_cross_without_the_cancel_token() -> None:
    options = SynthesisOptions(speed=1.2, language="zh", early_first_chunk=True,
                               with_alignment=True, cancel=CancelToken())
    wire = options_to_wire(options)
    assert "cancel" not in wire
    token = CancelToken()
    back = options_from_wire(wire, token)
    assert back == SynthesisOptions(speed=1.2, language="zh", early_first_chunk=True,
                                    with_alignment=True, cancel=token)


def test_an_engine_error_keeps_its_class_and_message() -> None:
    error = Failure.of(VoiceGroupNotFound("Nobody")).exception()
    assert isinstance(error, VoiceGroupNotFound)
    assert error.message == "Voice group 'Nobody' not found" and error.http_status == 404
    odd = Failure("KeyboardInterrupt", "no").exception()
    assert type(odd) is EngineError


@pytest.mark.parametrize(("url", "nodes", "refused"), [
    (None, [NODE], False),
    (None, [NODE, NODE], True),
    ("sqlite:////data/jobs.sqlite3", [NODE, NODE, NODE], True),
    ("postgresql://bv@db/bv", [NODE, NODE], False),
    ("postgresql+psycopg://bv@db/bv", [NODE, NODE], False),
    (None, [NODE, {"Alive": False}], False),
])
def test_more_than_one_node_on_sqlite_is_refused(url: str | None, nodes: list[dict[str, Any]],
                                                 refused: bool) -> None:
    problem = shared_state_problem(Settings(database_url=url), nodes)
    assert (problem is not None) == refused
    if problem is not None:
        assert "SQLite" in problem and "BREATHVOICE_DATABASE_URL=postgresql://" in problem


def test_the_pool_serves_first_chunks_before_later_ones() -> None:
    pool = PriorityPool(1)
    gate = threading.Event()
    order: list[str] = []
    pool.submit(0, gate.wait)  # holds the only thread while the others queue
    later = [pool.submit(1, lambda i=i: order.append(f"later{i}")) for i in range(3)]
    first = pool.submit(0, lambda: order.append("first"))
    time.sleep(0.05)
    gate.set()
    for future in [*later, first]:
        future.result(timeout=5)
    assert order == ["first", "later0", "later1", "later2"]

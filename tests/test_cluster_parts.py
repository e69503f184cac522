"""The pieces of Ray Serve mode that need no cluster: what crosses, the refusal, and the
engine replica itself (its class, called as its deployment handle calls it)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.errors import EngineError, VoiceGroupNotFound
from breathvoice.matching.jobs import EnrolmentJobs
from breathvoice.settings import Settings
from breathvoice.voices.importer import import_voice_group_zip
from breathvoice.voices.library import VoiceLibrary
from test_enrolment_jobs import ClipMatcher, NearestStockEngine
from zips import good_zip

pytest.importorskip("ray.serve")
from breathvoice.cluster.deployments import replica_values  # noqa: E402
from breathvoice.cluster.launch import shared_state_problem  # noqa: E402
from breathvoice.cluster.progress import ProgressBoard, ProgressPublisher  # noqa: E402
from breathvoice.cluster.remote_engine import RemoteMatching  # noqa: E402
from breathvoice.cluster.replica import EngineReplica  # noqa: E402
from breathvoice.cluster.routing import LeastBusyRouter  # noqa: E402
from breathvoice.cluster.wire import (  # noqa: E402
    Failure,
    VoiceRef,
    VoiceRefs,
    options_from_wire,
    options_to_wire,
    voice_digest,
)

NODE = {"Alive": True}
SERVE_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "serve.yaml"


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
                               with_alignment=True, background=True, cancel=CancelToken())
    wire = options_to_wire(options)
    assert "cancel" not in wire
    token = CancelToken()
    back = options_from_wire(wire, token)
    assert back == SynthesisOptions(speed=1.2, language="zh", early_first_chunk=True,
                                    with_alignment=True, background=True, cancel=token)


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


@pytest.fixture
def replica(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineReplica]:
    """An engine replica on the tone engine, one thread, each chunk taking 50 ms."""
    monkeypatch.setenv("TONE_SECONDS_PER_CHUNK", "0.05")
    settings = Settings(engine="tone_engine:from_settings", engine_workers=1,
                        engine_warmup_tokens=0)
    replica = EngineReplica(settings.model_dump(mode="json"))
    yield replica
    replica.scheduler.close()


def speak(replica: EngineReplica, text: str, background: bool, heard: list[tuple[str, str]],
          kind: str, speaking: asyncio.Event | None = None) -> Any:
    """Read a request's chunks as the ingress reads them, noting each in ``heard``;
    ``speaking`` is set once three have come."""
    voice = replica.engine.default_voice()
    ready = asyncio.get_running_loop().create_future()
    ready.set_result(voice)
    options = options_to_wire(SynthesisOptions(bounded_chunks=not background,
                                               background=background))

    async def read() -> None:
        async for item in replica.synthesize(text, VoiceRef(voice_digest(voice), ready),
                                             options):
            assert isinstance(item, AudioChunk) and len(item.samples)
            heard.append((kind, item.text))
            if speaking is not None and len(heard) >= 3:
                speaking.set()

    return read()


def test_live_requests_pause_a_job_line_on_the_replica(replica: EngineReplica) -> None:
    """A job line is being spoken when a live request comes: the live chunks all come first,
    none of the line's between them, and then the line resumes where it stopped, whole."""
    line = ", ".join(f"line part {i}" for i in range(12)) + "."
    live = "hello there, how are you, fine thanks, and you."
    heard: list[tuple[str, str]] = []

    async def scene() -> int:
        speaking = asyncio.Event()
        job = asyncio.create_task(speak(replica, line, True, heard, "job", speaking))
        await speaking.wait()
        arrived = len(heard)
        await speak(replica, live, False, heard, "live")
        await job
        return arrived

    arrived = asyncio.run(asyncio.wait_for(scene(), 30))
    kinds = [kind for kind, _ in heard]
    first, last = kinds.index("live"), len(kinds) - 1 - kinds[::-1].index("live")
    assert kinds[first:last + 1] == ["live"] * 4, kinds  # no job chunk between live ones
    assert first - arrived <= 1, kinds  # at most the job chunk already made when it came
    assert last < len(kinds) - 1  # the line was not finished before the live request
    assert "".join(text for kind, text in heard if kind == "job") == line
    assert "".join(text for kind, text in heard if kind == "live") == live
    assert not replica._active


class InProcess:
    """Calls a deployment body's methods here, as ``handle.method.remote(...)`` would."""

    def __init__(self, body: object) -> None:
        self._body = body

    def __getattr__(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(remote=getattr(self._body, name))


def test_matching_progress_is_seen_by_an_ingress_through_the_data_folder(
        tmp_path: Path) -> None:
    """The matching deployment's jobs (a group held mid-match) publish its progress; an
    ingress's library, another library over the same folder, shows it in the group's
    details, then the finished match; a publisher that died leaves no bar behind."""
    settings = Settings(data_dir=tmp_path / "data")
    board = ProgressBoard.of(settings)
    matcher = ClipMatcher(hold=True)
    matching = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                            staging_dir=settings.staging_dir)
    jobs = EnrolmentJobs(matching, matching.engine, budget_seconds=1e6, enrol_clip=matcher)
    publisher = ProgressPublisher(jobs, board, period=0.05)
    jobs.start(resume=False)
    publisher.start(jobs.resume_pending())
    ingress = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                           staging_dir=settings.staging_dir)
    ingress.enrolment = RemoteMatching(InProcess(publisher), board)  # type: ignore[arg-type]
    try:
        import_voice_group_zip(good_zip("Hero"), "Hero", False, library=ingress,
                               engine=ingress.engine, settings=settings)
        assert matcher.holding.wait(10)

        def enrolment() -> dict[str, Any]:
            details: dict[str, Any] = ingress.details("Hero")["enrolment"]
            return details

        assert wait_for(lambda: enrolment()["progress"] > 0)
        assert enrolment()["status"] == "enrolling"
        assert 0.2 <= enrolment()["progress"] < 0.5  # the matcher's first step, 0.25 of 0.9
        matcher.release.set()
        assert jobs.wait("Hero", timeout=10)
        assert wait_for(lambda: enrolment()["status"] == "ready")
        assert enrolment()["progress"] == 1.0 and enrolment()["method"] == "matched"
        assert wait_for(lambda: board.read("Hero") is None)
        assert list(board.folder.glob("*")) == []
    finally:
        publisher.close()
        jobs.close()
    board.write("Ghost", 0.4)
    assert board.read("Ghost") == 0.4
    past = time.time() - 60
    os.utime(board.folder / "Ghost.json", (past, past))
    assert board.read("Ghost") is None


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_serve_config_in_the_repo_is_valid_and_builds() -> None:
    """``serve run deploy/serve.yaml`` (run by hand, docs/scaling.md): Serve accepts the file,
    its import path builds the application from its args, and it listens on loopback."""
    from ray._common.utils import import_attr
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load(SERVE_CONFIG.read_text()))
    assert config.http_options.host == "127.0.0.1" and config.proxy_location == "HeadOnly"
    (app,) = config.applications
    assert app.name == "breathvoice" and app.route_prefix == "/"
    built = import_attr(app.import_path)(app.args)
    assert isinstance(built, Application)
    with pytest.raises(ValidationError):  # a wrong setting is refused when it is built
        import_attr(app.import_path)({**app.args, "ray_engine_replicas": 0})


@pytest.mark.parametrize(("workers", "onnx_threads", "expected"), [(1, 0, 1), (2, 0, 2), (2, 1, 1)])
def test_a_replica_runs_the_model_on_its_own_cpus(workers: int, onnx_threads: int,
                                                 expected: int) -> None:
    """Replicas sharing a node do not each size the model's thread pool to the machine."""
    values = replica_values(Settings(engine_workers=workers, onnx_threads=onnx_threads))
    assert values["onnx_threads"] == expected and values["engine_workers"] == workers


def test_a_burst_of_requests_is_spread_evenly_over_the_engine_replicas() -> None:
    """Requests chosen at once (before any replica reports its queue) alternate between the
    replicas; a finished one frees its replica for the next; a refused try is not counted."""
    from ray.serve._private.common import DeploymentHandleSource, DeploymentID, ReplicaID

    engine = DeploymentID(name="Engine", app_name="breathvoice")
    router = LeastBusyRouter(engine, DeploymentHandleSource.UNKNOWN)
    router.initialize_state()
    replicas = [SimpleNamespace(replica_id=ReplicaID(name, engine)) for name in ("a", "b")]

    def choose(request: str) -> str:
        pending = SimpleNamespace(metadata=SimpleNamespace(internal_request_id=request))
        ranks = asyncio.run(router.choose_replicas(replicas, pending))  # type: ignore[arg-type]
        assert sorted(len(rank) for rank in ranks) == [1, 1]
        chosen: str = ranks[0][0].replica_id.unique_id
        return chosen

    burst = [choose(f"r{i}") for i in range(6)]
    assert sorted(burst) == ["a", "a", "a", "b", "b", "b"]
    assert all(abs(burst[:n].count("a") - burst[:n].count("b")) <= 1 for n in range(7))
    first_on_a = f"r{burst.index('a')}"
    router.on_request_completed(ReplicaID("a", engine), first_on_a)
    assert choose("r6") == "a"
    router.on_request_completed(ReplicaID("b", engine), "r6")  # a try "b" refused: ignored
    router.on_request_completed(ReplicaID("b", engine), f"r{burst.index('b')}")
    assert choose("r7") == "b"  # "a" still holds r6


def test_serve_run_refuses_a_public_proxy_without_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config file sets where Serve's proxy listens, so ``build`` checks that address
    with the single-process rule: public without keys is refused, loopback or keys pass."""
    from ray.serve import Application

    from breathvoice.cluster import deployments

    monkeypatch.setenv("BREATHVOICE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BREATHVOICE_API_KEYS", raising=False)
    args = yaml.safe_load(SERVE_CONFIG.read_text())["applications"][0]["args"]
    monkeypatch.setattr(deployments, "proxy_host", lambda: "0.0.0.0")
    with pytest.raises(RuntimeError, match="refusing to listen on 0.0.0.0"):
        deployments.build(args)
    monkeypatch.setenv("BREATHVOICE_API_KEYS", '["sk-' + "k" * 40 + '"]')
    assert isinstance(deployments.build(args), Application)
    monkeypatch.delenv("BREATHVOICE_API_KEYS")
    monkeypatch.setattr(deployments, "proxy_host", lambda: "127.0.0.1")
    assert isinstance(deployments.build(args), Application)


def test_a_progress_read_never_leaves_the_progress_folder(tmp_path: Path) -> None:
    """Group details read progress before the group is looked up: a name such as ``../x``
    from a URL must not name a file outside the board's folder."""
    board = ProgressBoard(tmp_path / "board")
    (tmp_path / "outside.json").write_text('{"progress": 0.5}')
    assert board.read("../outside") is None
    board.clear("../outside")
    assert (tmp_path / "outside.json").exists()
    board.write("Hero", 0.25)
    assert board.read("Hero") == 0.25

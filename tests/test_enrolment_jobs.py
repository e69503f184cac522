"""Background voice matching of uploaded groups: statuses, progress, cache, restarts, cancels.

The engine here measures clips (``MeasuringEngine``) and the matcher measures them too, in
a few progress steps, and can be held mid-way, so each step of a job's life is checked
quickly and deterministically. The real matcher on the real engine is exercised in
``test_enrolment_live.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from breathvoice.app import create_app
from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.engines.registry import ENGINES
from breathvoice.errors import InvalidRequest
from breathvoice.matching.enrolment import EnrolmentCancelled
from breathvoice.matching.jobs import EnrolmentJobs
from breathvoice.settings import Settings
from breathvoice.voices.importer import ImportResult, import_voice_group_zip
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.manifest import load_manifest, save_manifest
from breathvoice.voices.manifest_records import Conditioning
from conftest import AppFactory
from tone_engine import ToneEngine
from zips import MeasuringEngine, good_zip, make_zip, upload_group, voice_wav

STEPS = (0.25, 0.5, 0.4, 0.75)
"""What the matcher reports: a fraction lower than the one before must not move the bar back."""


class NearestStockEngine(MeasuringEngine):
    """Conditions an upload with its nearest stock voice at once, like the embedded engine."""

    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        self.prepared += 1
        stock = self.stock_voices()["jf_nezumi"]
        return VoiceState(self.name, stock.arrays,
                          {"method": "nearest_stock", "stock_voice": "jf_nezumi",
                           "similarity": 0.5})


class ClipMatcher:
    """``enrol``'s interface: measures the clip, reporting :data:`STEPS` on the way.

    With ``hold``, the main clip's match waits after its first step until ``release`` is
    set (or the job is cancelled, which it records).
    """

    def __init__(self, hold: bool = False) -> None:
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.holding = threading.Event()
        self.cancelled = threading.Event()
        self.calls: list[str] = []
        self.on_step: Callable[[], None] = lambda: None

    def __call__(self, engine: Any, samples: np.ndarray, rate: int, *,
                 progress: Callable[[float], None] | None = None,
                 cancel: CancelToken | None = None, base: VoiceState | None = None,
                 budget_seconds: float = 45.0, workers: int | None = None) -> VoiceState:
        level = float(np.sqrt(np.mean(np.square(samples))))
        if base is not None:
            self.calls.append("prosody")
            profile = base.arrays["profile"].copy()
            profile[0] = level
            return VoiceState(engine.name, {"profile": profile},
                              {**base.info, "method": "matched_prosody"})
        self.calls.append("main")
        for step in STEPS:
            assert progress is not None and cancel is not None
            progress(step)
            self.on_step()
            self.holding.set()
            while not self.release.wait(0.01):
                if cancel.cancelled:
                    self.cancelled.set()
                    raise EnrolmentCancelled
        profile = np.array([level, len(samples) / rate, 123.0], np.float32)
        return VoiceState(engine.name, {"profile": profile},
                          {"method": "matched", "similarity": 0.91, "stock_similarity": 0.5})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def runners() -> Iterator[list[EnrolmentJobs]]:
    started: list[EnrolmentJobs] = []
    yield started
    for jobs in started:
        jobs.close()


def open_library(settings: Settings, matcher: Callable[..., VoiceState],
                 runners: list[EnrolmentJobs]) -> tuple[VoiceLibrary, EnrolmentJobs]:
    """A library over ``settings``' data folder with its matching started (a new process)."""
    library = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                           staging_dir=settings.staging_dir)
    # a budget far beyond the test: the bar moves by the matcher's reports alone
    jobs = EnrolmentJobs(library, library.engine, budget_seconds=1e6, enrol_clip=matcher)
    runners.append(jobs)
    jobs.start()
    return library, jobs


def upload(library: VoiceLibrary, settings: Settings, group: str, data: bytes,
           overwrite: bool = False) -> ImportResult:
    return import_voice_group_zip(data, group, overwrite, library=library,
                                  engine=library.engine, settings=settings)


def files_under(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its modification time (ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fails", [False, True])
def test_the_warm_up_runs_once_before_the_first_match(settings: Settings,
                                                      runners: list[EnrolmentJobs],
                                                      fails: bool) -> None:
    matcher = ClipMatcher()

    def warm_up() -> None:
        matcher.calls.append("warm-up")
        if fails:
            raise MemoryError("no room for the gradient steps")

    library = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                           staging_dir=settings.staging_dir)
    jobs = EnrolmentJobs(library, library.engine, budget_seconds=1e6, enrol_clip=matcher,
                         warm_up=warm_up)
    runners.append(jobs)
    jobs.start()
    for group in ("Hero", "Villain"):
        upload(library, settings, group, good_zip(group))
        assert jobs.wait(group, timeout=10)
        assert library.details(group)["enrolment"]["status"] == "ready"
    assert matcher.calls == ["warm-up"] + ["main", "prosody", "prosody", "prosody"] * 2


def test_memory_is_given_back_once_the_queue_stays_empty(settings: Settings,
                                                         runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher()
    warming = threading.Event()
    idle = threading.Event()

    def warm_up() -> None:
        matcher.calls.append("warm-up")
        warming.wait(10)

    def given_back() -> None:
        matcher.calls.append("idle")
        idle.set()

    library = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                           staging_dir=settings.staging_dir)
    jobs = EnrolmentJobs(library, library.engine, budget_seconds=1e6, enrol_clip=matcher,
                         warm_up=warm_up, idle=given_back, idle_seconds=0.3)
    runners.append(jobs)
    jobs.start()
    for group in ("Hero", "Villain"):  # queued while the worker warms up
        upload(library, settings, group, good_zip(group))
    warming.set()
    assert jobs.wait("Hero", timeout=10) and jobs.wait("Villain", timeout=10)
    assert idle.wait(10)
    # nothing between the two matches, which follow one another
    assert matcher.calls == ["warm-up"] + ["main", "prosody", "prosody", "prosody"] * 2 + ["idle"]
    time.sleep(0.6)  # once only: an idle worker has nothing more to give back
    assert matcher.calls.count("idle") == 1

    upload(library, settings, "Sidekick", good_zip("Sidekick"))
    assert jobs.wait("Sidekick", timeout=10)
    deadline = time.monotonic() + 10
    while matcher.calls.count("idle") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert matcher.calls[-5:] == ["main", "prosody", "prosody", "prosody", "idle"]


def test_a_group_is_usable_at_once_then_matched(settings: Settings,
                                               runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher(hold=True)
    library, jobs = open_library(settings, matcher, runners)
    seen: list[float] = []
    matcher.on_step = lambda: seen.append(jobs.progress("Hero") or 0.0)

    result = upload(library, settings, "Hero", good_zip("Hero"))
    assert result.status == "ready" and result.enrolment == "enrolling"
    assert matcher.holding.wait(10)
    details = library.details("Hero")
    assert details["status"] == "ready" and details["file_count"] == 4
    assert details["enrolment"] == {"status": "enrolling", "progress": 0.225,
                                    "method": "stock", "similarity": 0.5}
    stock = library.choose("Hero", "greeting_001.wav")
    assert stock.voice_state.info["method"] == "nearest_stock"
    assert stock.voice_method == "stock"

    matcher.release.set()
    assert jobs.wait("Hero", timeout=10)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.9 * 0.75)
    details = library.details("Hero")
    assert details["enrolment"] == {"status": "ready", "progress": 1.0,
                                    "method": "matched", "similarity": 0.91}
    assert {c["method"] for c in details["conditioning"].values()} == {
        "matched", "matched_prosody"}
    assert matcher.calls == ["main", "prosody", "prosody", "prosody"]
    greeting = library.choose("Hero", "greeting_001.wav")
    assert greeting.voice_method == "matched"
    assert greeting.voice_state.info["method"] == "matched"
    assert greeting.voice_state.arrays["profile"][2] == 123.0
    folder = settings.voices_dir / "Hero"
    assert sorted(p.name for p in (folder / "conditioning" / "matched").iterdir()) == [
        "B1_B2.npz", "B3_B4.npz", "B5_orgasm.npz", "greeting.npz"]
    assert load_manifest(folder).enrolment is not None


def test_the_bar_moves_with_time_between_reports(settings: Settings,
                                                  runners: list[EnrolmentJobs]) -> None:
    matcher, release = ClipMatcher(), threading.Event()

    def silent_until_released(*args: Any, **kwargs: Any) -> VoiceState:
        if kwargs.get("base") is None:
            release.wait(10)
        return matcher(*args, **kwargs)

    library = VoiceLibrary(settings.voices_dir, NearestStockEngine(),
                           staging_dir=settings.staging_dir)
    jobs = EnrolmentJobs(library, library.engine, budget_seconds=0.5,
                         enrol_clip=silent_until_released)
    runners.append(jobs)
    jobs.start()
    upload(library, settings, "Hero", good_zip("Hero"))
    deadline = time.monotonic() + 10
    while not jobs.progress("Hero") and time.monotonic() < deadline:
        time.sleep(0.01)
    early = jobs.progress("Hero") or 0.0
    time.sleep(0.3)
    later = jobs.progress("Hero") or 0.0
    time.sleep(0.6)
    past_budget = jobs.progress("Hero") or 0.0
    assert 0 < early < later <= past_budget == pytest.approx(0.9 * 0.95)
    release.set()
    assert jobs.wait("Hero", timeout=10)
    assert library.details("Hero")["enrolment"]["progress"] == 1.0


def test_a_restart_reuses_what_was_matched(settings: Settings,
                                           runners: list[EnrolmentJobs]) -> None:
    library, jobs = open_library(settings, ClipMatcher(), runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert jobs.wait("Hero", timeout=10)
    before = files_under(settings.voices_dir)
    jobs.close()

    again = ClipMatcher()
    library, jobs = open_library(settings, again, runners)
    assert jobs.progress("Hero") is None and again.calls == []
    assert library.details("Hero")["enrolment"]["status"] == "ready"
    assert library.choose("Hero", "B5_x.wav").voice_state.info["method"] == "matched_prosody"
    assert files_under(settings.voices_dir) == before


def test_a_restart_resumes_after_the_main_clip(settings: Settings,
                                               runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher()
    stop_after_main = threading.Event()

    def prosody_until_stopped(*args: Any, **kwargs: Any) -> VoiceState:
        if kwargs.get("base") is not None:
            stop_after_main.set()
            while not kwargs["cancel"].cancelled:
                threading.Event().wait(0.01)
            raise EnrolmentCancelled
        return matcher(*args, **kwargs)

    library, jobs = open_library(settings, prosody_until_stopped, runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert stop_after_main.wait(10)
    jobs.close()  # the server stops
    details = library.details("Hero")
    assert details["enrolment"]["status"] == "enrolling"
    assert details["conditioning"]["greeting"]["method"] == "matched"
    assert details["conditioning"]["B1_B2"]["method"] == "nearest_stock"

    again = ClipMatcher()
    library, jobs = open_library(settings, again, runners)
    assert jobs.wait("Hero", timeout=10)
    assert again.calls == ["prosody"] * 3
    assert library.details("Hero")["enrolment"]["status"] == "ready"


def test_overwrite_cancels_the_job_and_leaves_no_partial_files(
        settings: Settings, runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher(hold=True)
    library, jobs = open_library(settings, matcher, runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert matcher.holding.wait(10)

    louder = make_zip([("Hero_greeting.wav", voice_wav(2.0, seed=7))])
    matcher.holding.clear()
    upload(library, settings, "Hero", louder, overwrite=True)
    assert matcher.cancelled.wait(10)
    assert matcher.holding.wait(10)  # the new group's own job
    assert library.details("Hero")["file_count"] == 1
    matcher.release.set()
    assert jobs.wait("Hero", timeout=10)

    files = files_under(settings.data_dir)
    assert sorted(f for f in files if f.startswith("voices/")) == [
        "voices/Hero/Hero_greeting.wav", "voices/Hero/conditioning/greeting.npz",
        "voices/Hero/conditioning/matched/greeting.npz", "voices/Hero/manifest.json"]
    assert not [f for f in files if f.startswith(".staging/")]
    matched = library.choose("Hero", "x.wav").voice_state
    assert matched.arrays["profile"][1] == pytest.approx(2.0)  # the new clip's length


def test_delete_cancels_the_job(settings: Settings, runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher(hold=True)
    library, jobs = open_library(settings, matcher, runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert matcher.holding.wait(10)
    library.delete("Hero")
    assert matcher.cancelled.wait(10) and jobs.wait("Hero", timeout=10)
    # nothing of the group is left; the staging folder's lock file stays for the next swap
    assert set(files_under(settings.data_dir)) <= {".staging.lock"}


def test_an_unusable_main_clip_hands_over_to_the_next(settings: Settings,
                                                      runners: list[EnrolmentJobs]) -> None:
    matcher = ClipMatcher()

    def refuse_short_clips(engine: Any, samples: np.ndarray, rate: int,
                           **kwargs: Any) -> VoiceState:
        if len(samples) < 2 * rate:
            raise InvalidRequest("the reference clip is too short")
        return matcher(engine, samples, rate, **kwargs)

    library, jobs = open_library(settings, refuse_short_clips, runners)
    zip_bytes = make_zip([("Hero_greeting.wav", voice_wav(1.0, seed=1)),
                          ("Hero_B3_B4.wav", voice_wav(2.5, seed=2))])
    upload(library, settings, "Hero", zip_bytes)
    assert jobs.wait("Hero", timeout=10)
    details = library.details("Hero")
    assert details["enrolment"]["status"] == "ready"
    assert load_manifest(settings.voices_dir / "Hero").enrolment.main_emotion == "B3_B4"
    greeting = library.choose("Hero", "greeting.wav").voice_state
    assert greeting.info["method"] == "matched"  # the short clip speaks as the main voice


def test_matching_off_and_other_engines_keep_stock_voices(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    monkeypatch.setitem(ENGINES, "tone", lambda _: ToneEngine())
    app = create_app(Settings(data_dir=tmp_path, engine="tone", create_demo_group=False))
    with TestClient(app) as client:
        assert app.state.services.library.enrolment is None
        assert upload_group(client, "Hero")["enrolment"]["status"] == "off"
        details = client.get("/breathvoice/voice-groups/Hero").json()
        assert details["status"] == "ready"
        assert details["enrolment"] == {"status": "off", "progress": 1.0, "method": "tone",
                                        "similarity": None}
        r = client.post("/breathvoice/single-tts", json={
            "text": "你好。", "filename": "greeting_1.wav", "voice_group_id": "Hero"})
        assert r.status_code == 200
        assert r.json()["result"]["voice_method"] == r.headers["X-Voice-Method"] == "tone"
    assert not (tmp_path / "voices" / "Hero" / "conditioning" / "matched").exists()
    assert Settings(enrolment="off").enrolment is False  # type: ignore[arg-type]


class MatchedWhileSpeaking(ToneEngine):
    """Records how each voice it speaks with was made; runs ``on_speak`` once, mid-line."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: list[str] = []
        self.on_speak: Callable[[], None] = lambda: None

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        self.methods.append(voice.info["method"])
        hook, self.on_speak = self.on_speak, lambda: None
        hook()
        yield from super().synthesize(text, voice, options)


def finish_matching(library: VoiceLibrary, group: str, emotion: str) -> None:
    """What a job's last commit does: the matched state kept, the manifest pointing at it."""
    state = VoiceState("tone", {"level": np.array([0.5], np.float32)},
                       {"method": "matched", "similarity": 0.9})
    file = f"conditioning/matched/{emotion}.npz"
    with library.editing(group) as folder:
        manifest = load_manifest(folder)
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        state.save(folder / file)
        reference = manifest.references[emotion].model_copy(
            update={"conditioning": Conditioning.from_state(state, file)})
        save_manifest(folder, manifest.model_copy(
            update={"references": {**manifest.references, emotion: reference}}))


def test_a_line_reports_the_voice_it_was_spoken_with(app: AppFactory) -> None:
    engine = MatchedWhileSpeaking()
    with app(engine, create_demo_group=False) as client:
        upload_group(client, "Hero")
        library = client.app.state.services.library  # type: ignore[attr-defined]
        engine.on_speak = lambda: finish_matching(library, "Hero", "greeting")
        spoken = [client.post("/breathvoice/single-tts", json={
            "text": "你好。", "filename": f"greeting_{n}.wav", "voice_group_id": "Hero"})
            for n in (1, 2)]
        batch = client.post("/breathvoice/batch-tts", json={"requests": [{
            "text": "你好。", "filename": "greeting_3.wav", "voice_group_id": "Hero"}]})
    assert batch.json()["results"][0]["voice_method"] == "matched"
    # the match lands while the first line is spoken: it is reported with the voice it had
    assert engine.methods == ["tone", "matched", "matched"]
    for r, method in zip(spoken, ["tone", "matched"], strict=True):
        assert r.status_code == 200, r.text
        assert r.json()["result"]["voice_method"] == r.headers["X-Voice-Method"] == method


def test_the_socket_handshake_says_which_voice_it_speaks_with(app: AppFactory) -> None:
    engine = MatchedWhileSpeaking()
    with app(engine, create_demo_group=False) as client:
        upload_group(client, "Hero")
        url = "/v1/text-to-speech/Hero/multi-stream-input?output_format=pcm_24000"
        with client.websocket_connect(url) as before:
            before.send_text(json.dumps({"text": "你好。", "context_id": "a", "flush": True}))
            assert "audio" in before.receive_json()
        finish_matching(client.app.state.services.library,  # type: ignore[attr-defined]
                        "Hero", "greeting")
        with client.websocket_connect(url) as after:
            pass
    assert dict(before.extra_headers or [])[b"x-voice-method"] == b"tone"
    assert dict(after.extra_headers or [])[b"x-voice-method"] == b"matched"


def test_an_exported_matched_group_imports_again(settings: Settings,
                                                 runners: list[EnrolmentJobs]) -> None:
    library, jobs = open_library(settings, ClipMatcher(), runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert jobs.wait("Hero", timeout=10)
    copy = upload(library, settings, "Copy", library.export_zip("Hero"))
    assert copy.enrolment == "enrolling" and jobs.wait("Copy", timeout=10)
    assert library.details("Copy")["enrolment"]["method"] == "matched"


@pytest.fixture
def cli_matcher(monkeypatch: pytest.MonkeyPatch) -> ClipMatcher:
    """The command line on an engine named like the embedded one, with the clip matcher."""
    import breathvoice.matching.jobs

    matcher = ClipMatcher()
    monkeypatch.setenv("BREATHVOICE_ENROLMENT_GRADIENTS", "off")  # the matcher has no steps
    monkeypatch.setenv("BREATHVOICE_ENROLMENT_GUARD", "off")  # nor checks
    monkeypatch.setitem(ENGINES, "kokoro", lambda _: NearestStockEngine("kokoro"))
    monkeypatch.setattr(breathvoice.matching.jobs, "enrol", matcher)
    return matcher


def run_import(tmp_path: Path, *options: str) -> str:
    from typer.testing import CliRunner

    from breathvoice.cli import app

    archive = tmp_path / "Hero.zip"
    archive.write_bytes(good_zip("Hero"))
    result = CliRunner().invoke(app, ["voices", "import", str(archive), "--data-dir",
                                      str(tmp_path / "data"), *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_import_waits_for_the_match(tmp_path: Path, cli_matcher: ClipMatcher) -> None:
    output = run_import(tmp_path)
    assert "voice matching: ready (matched, speaker similarity 0.91)" in output
    assert cli_matcher.calls == ["main", "prosody", "prosody", "prosody"]


def test_cli_import_no_wait_leaves_the_match_to_the_server(
        tmp_path: Path, cli_matcher: ClipMatcher, runners: list[EnrolmentJobs]) -> None:
    from breathvoice.matching.jobs import enrolment_jobs_for

    output = run_import(tmp_path, "--no-wait")
    assert "voice matching: pending" in output and cli_matcher.calls == []
    folder = tmp_path / "data" / "voices" / "Hero"
    assert load_manifest(folder).enrolment.status == "enrolling"  # type: ignore[union-attr]

    settings = Settings(data_dir=tmp_path / "data")
    library = VoiceLibrary(settings.voices_dir, NearestStockEngine("kokoro"))
    jobs = enrolment_jobs_for(library, library.engine, settings)
    assert jobs is not None
    runners.append(jobs)
    jobs.start()
    assert jobs.wait("Hero", timeout=10)
    assert library.details("Hero")["enrolment"]["status"] == "ready"
    assert cli_matcher.calls == ["main", "prosody", "prosody", "prosody"]

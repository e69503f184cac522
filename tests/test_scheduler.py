"""The synthesis scheduler: order, first-chunk priority, fairness, cancellation, failures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable, Sequence

import pytest

from breathvoice.engines.base import AudioChunk, SynthesisOptions
from breathvoice.errors import EngineError, ServerBusy
from breathvoice.streaming.admission import Admission
from breathvoice.streaming.scheduler import SynthesisScheduler
from breathvoice.streaming.workers import SchedulerPolicy
from tone_engine import ToneEngine

LONG = "one, two, three, four, five, six, seven, eight."


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.done: dict[str, BaseException | None] = {}
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.expected = 0

    def submit(self, scheduler: SynthesisScheduler, name: str, text: str,
               owner: Hashable | None = None):  # type: ignore[no-untyped-def]
        self.expected += 1

        def on_chunk(chunk: AudioChunk) -> None:
            with self.lock:
                self.events.append((name, chunk.text))

        def on_done(error: BaseException | None) -> None:
            with self.lock:
                self.done[name] = error
                if len(self.done) == self.expected:
                    self.finished.set()

        return scheduler.submit(owner=owner if owner is not None else name, text=text,
                                voice=scheduler.engine.default_voice(),
                                options=SynthesisOptions(), on_chunk=on_chunk, on_done=on_done)


def submit_quietly(scheduler: SynthesisScheduler,
                   jobs: Sequence[tuple[str, SynthesisOptions, bool]]) -> Callable[[float], None]:
    """Submit each ``(text, options, background)`` as its own owner, chunks dropped.

    Returns a function that waits until every one of them has ended (``timeout`` each).
    """
    done = threading.Semaphore(0)
    for text, options, background in jobs:
        scheduler.submit(owner=text, text=text, voice=scheduler.engine.default_voice(),
                         options=options, on_chunk=lambda chunk: None,
                         on_done=lambda error: done.release(), background=background)

    def wait(timeout: float) -> None:
        for _ in jobs:
            assert done.acquire(timeout=timeout)

    return wait


def asked_options(engine: ToneEngine) -> dict[str, SynthesisOptions]:
    """The options the engine was asked to speak each text with."""
    return dict(zip(engine.calls, engine.options, strict=True))


def test_chunks_of_a_job_arrive_in_order_and_done_fires_once() -> None:
    scheduler = SynthesisScheduler(ToneEngine(), workers=2)
    rec = Recorder()
    rec.submit(scheduler, "a", LONG)
    assert rec.finished.wait(5)
    texts = [t for _, t in rec.events]
    assert len(texts) == 8 and "".join(texts) == LONG
    assert rec.done == {"a": None}
    scheduler.close()


def test_first_chunk_of_a_new_job_goes_before_old_jobs_chunks() -> None:
    engine = ToneEngine(seconds_per_chunk=0.02)
    scheduler = SynthesisScheduler(engine, workers=1)
    rec = Recorder()
    rec.submit(scheduler, "old", LONG)
    while len(rec.events) < 2:
        threading.Event().wait(0.005)
    rec.submit(scheduler, "new", "hello.")
    assert rec.finished.wait(5)
    names = [n for n, _ in rec.events]
    first_new = names.index("new")
    assert names[:first_new].count("old") <= 4  # served at the next free slot
    assert names.count("old") == 8
    scheduler.close()


def test_classic_policy_drops_the_early_cut_while_new_jobs_wait() -> None:
    engine = ToneEngine(seconds_per_chunk=0.2)
    scheduler = SynthesisScheduler(engine, workers=1, policy="classic")
    early = SynthesisOptions(early_first_chunk=True)
    submit_quietly(scheduler, [("busy, still busy.", SynthesisOptions(), False),
                               ("queued, behind another.", early, False),
                               ("last, alone.", early, False)])(10)
    asked = asked_options(engine)
    # "queued" started while "last" waited and no worker was free: its first sentence is whole
    assert asked["queued, behind another."].early_first_chunk is False
    # "last" started with no new job behind it: the early cut stands
    assert asked["last, alone."].early_first_chunk is True
    scheduler.close()


def test_responsive_policy_keeps_every_first_chunk_short() -> None:
    engine = ToneEngine(seconds_per_chunk=0.1)
    scheduler = SynthesisScheduler(engine, workers=1)
    names = ("busy, still busy.", "queued, behind another.", "last, alone.")
    early = SynthesisOptions(early_first_chunk=True)
    submit_quietly(scheduler, [(name, early, False) for name in names])(10)
    assert [options.early_first_chunk for options in engine.options] == [True] * 3
    scheduler.close()


def test_jobs_that_free_workers_take_at_once_keep_the_early_cut() -> None:
    engine = ToneEngine(seconds_per_chunk=0.2)
    scheduler = SynthesisScheduler(engine, workers=2)
    early = SynthesisOptions(early_first_chunk=True)
    submit_quietly(scheduler, [(name, early, False)
                               for name in ("first, of two.", "second, of two.")])(10)
    assert [options.early_first_chunk for options in engine.options] == [True, True]
    scheduler.close()


def test_owners_share_one_worker_fairly() -> None:
    engine = ToneEngine(seconds_per_chunk=0.005)
    scheduler = SynthesisScheduler(engine, workers=1)
    rec = Recorder()
    rec.submit(scheduler, "a1", LONG, owner="A")
    rec.submit(scheduler, "a2", LONG, owner="A")
    rec.submit(scheduler, "b1", LONG, owner="B")
    assert rec.finished.wait(10)
    owners = ["A" if n.startswith("a") else "B" for n, _ in rec.events]
    # while both owners have work, neither gets two turns in a row more than at the start
    b_done = max(i for i, o in enumerate(owners) if o == "B")
    window = owners[2:b_done]
    runs = max(len(r) for r in "".join(window).replace("AB", "A B").replace("BA", "B A").split())
    assert runs <= 2, owners


def test_cancel_of_a_queued_job_produces_nothing() -> None:
    engine = ToneEngine(seconds_per_chunk=0.05)
    scheduler = SynthesisScheduler(engine, workers=1)
    rec = Recorder()
    rec.submit(scheduler, "busy", LONG)
    job = rec.submit(scheduler, "queued", LONG)
    job.cancel()
    assert rec.finished.wait(10)
    assert "queued" not in {n for n, _ in rec.events}
    assert rec.done["queued"] is None
    scheduler.close()


def test_cancel_of_a_running_job_stops_it_and_frees_the_worker() -> None:
    engine = ToneEngine(seconds_per_chunk=0.05)
    scheduler = SynthesisScheduler(engine, workers=1)
    rec = Recorder()
    job = rec.submit(scheduler, "long", LONG * 4)
    while not rec.events:
        threading.Event().wait(0.005)
    job.cancel()
    rec.submit(scheduler, "next", "hi.")
    assert rec.finished.wait(5)
    assert sum(1 for n, _ in rec.events if n == "long") <= 3
    assert ("next", "hi.") in rec.events
    scheduler.close()


def test_engine_failure_reaches_on_done_and_the_worker_survives() -> None:
    scheduler = SynthesisScheduler(ToneEngine(fail_on="boom"), workers=1)
    rec = Recorder()
    rec.submit(scheduler, "bad", "fine, boom, never.")
    rec.submit(scheduler, "good", "still works.")
    assert rec.finished.wait(5)
    assert isinstance(rec.done["bad"], EngineError)
    assert ("bad", "never.") not in rec.events
    assert rec.done["good"] is None and ("good", "still works.") in rec.events
    scheduler.close()


def test_stream_yields_chunks_and_leaving_early_cancels() -> None:
    engine = ToneEngine(seconds_per_chunk=0.01)
    scheduler = SynthesisScheduler(engine, workers=1)
    voice = engine.default_voice()

    async def main() -> tuple[list[str], list[str]]:
        whole = [c.text async for c in scheduler.stream("x", "a, b, c.", voice,
                                                        SynthesisOptions())]
        partial = []
        async for chunk in scheduler.stream("y", LONG * 3, voice, SynthesisOptions()):
            partial.append(chunk.text)
            if len(partial) == 2:
                break
        return whole, partial

    whole, partial = asyncio.run(main())
    assert "".join(whole) == "a, b, c."
    assert len(partial) == 2
    scheduler.close()


def test_stream_raises_engine_errors() -> None:
    engine = ToneEngine(fail_on="boom")
    scheduler = SynthesisScheduler(engine, workers=1)

    async def main() -> None:
        await scheduler.collect("x", "boom.", engine.default_voice(), SynthesisOptions())

    with pytest.raises(EngineError):
        asyncio.run(main())
    scheduler.close()


def test_background_jobs_wait_while_live_jobs_wait_or_run() -> None:
    engine = ToneEngine(seconds_per_chunk=0.02)
    scheduler = SynthesisScheduler(engine, workers=2)
    events: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    remaining = [2]

    def submit(name: str, text: str, background: bool) -> None:
        def on_chunk(chunk: AudioChunk) -> None:
            with lock:
                events.append(name)

        def on_done(error: BaseException | None) -> None:
            with lock:
                remaining[0] -= 1
                if not remaining[0]:
                    done.set()

        scheduler.submit(owner=name, text=text, voice=engine.default_voice(),
                         options=SynthesisOptions(), on_chunk=on_chunk, on_done=on_done,
                         background=background)

    submit("live", LONG, background=False)
    submit("job", LONG, background=True)
    assert done.wait(10)
    # Two workers, yet no background chunk ran while the live job had chunks to come.
    assert events == ["live"] * 8 + ["job"] * 8
    scheduler.close()


def test_background_work_leaves_a_worker_free_for_live_work() -> None:
    engine = ToneEngine(seconds_per_chunk=0.2)
    scheduler = SynthesisScheduler(engine, workers=2, background_workers=1)
    started: dict[str, float] = {}
    done = threading.Event()

    def submit(name: str, background: bool) -> None:
        def on_chunk(chunk: AudioChunk) -> None:
            started.setdefault(name, time.monotonic())

        scheduler.submit(owner=name, text="one.", voice=engine.default_voice(),
                         options=SynthesisOptions(), on_chunk=on_chunk,
                         on_done=lambda error: done.set() if name == "live" else None,
                         background=background)

    submit("job1", True)
    submit("job2", True)
    time.sleep(0.05)  # job1 is running; job2 must wait, one worker stays free
    asked = time.monotonic()
    submit("live", False)
    assert done.wait(5)
    assert started["live"] - asked < 0.35  # one chunk's time, not two
    assert started.get("job2", float("inf")) > started["live"]
    scheduler.close()


def _live_during_background(policy: SchedulerPolicy) -> tuple[float, list[str], list[str]]:
    """A live job arrives while a background job's chunk runs on the only worker.

    Returns how long the live job waited for its first chunk (0.5 s to make), the
    background job's chunk
    texts, and the order of all chunks.
    """
    engine = ToneEngine(seconds_per_chunk=0.5)
    scheduler = SynthesisScheduler(engine, workers=1, policy=policy)
    chunks: dict[str, list[str]] = {"job": [], "live": []}
    order: list[str] = []
    first_live: list[float] = []
    done = threading.Semaphore(0)
    errors: list[BaseException | None] = []

    def submit(name: str, text: str, background: bool) -> None:
        def on_chunk(chunk: AudioChunk) -> None:
            if name == "live" and not first_live:
                first_live.append(time.monotonic())
            chunks[name].append(chunk.text)
            order.append(name)

        def on_done(error: BaseException | None) -> None:
            errors.append(error)
            done.release()

        scheduler.submit(owner=name, text=text, voice=engine.default_voice(),
                         options=SynthesisOptions(), on_chunk=on_chunk, on_done=on_done,
                         background=background)

    submit("job", "one, two, three.", background=True)
    while not chunks["job"]:
        time.sleep(0.005)
    time.sleep(0.1)  # the job's second chunk is being made
    asked = time.monotonic()
    submit("live", "hello.", background=False)
    for _ in range(2):
        assert done.acquire(timeout=10)
    scheduler.close()
    assert errors == [None, None]
    return first_live[0] - asked, chunks["job"], order


def test_live_work_pauses_a_running_background_chunk_and_the_line_stays_whole() -> None:
    waited, job_chunks, order = _live_during_background("responsive")
    assert waited < 0.7  # its own 0.5 s chunk, not also the 0.4 s left of the job's
    # the paused chunk was made again afterwards: every piece once, in order
    assert job_chunks == ["one,", " two,", " three."]
    assert order == ["job", "live", "job", "job"]


def test_classic_policy_lets_the_background_chunk_finish_first() -> None:
    waited, job_chunks, order = _live_during_background("classic")
    assert waited > 0.8
    assert job_chunks == ["one,", " two,", " three."]
    assert order[:3] == ["job", "job", "live"]


def test_a_paused_background_job_can_still_be_cancelled() -> None:
    engine = ToneEngine(seconds_per_chunk=0.3)
    scheduler = SynthesisScheduler(engine, workers=1)
    job_done = threading.Event()
    job_chunks: list[str] = []
    job = scheduler.submit(owner="job", text=LONG, voice=engine.default_voice(),
                           options=SynthesisOptions(), on_chunk=lambda c: job_chunks.append(c.text),
                           on_done=lambda error: job_done.set(), background=True)
    time.sleep(0.1)
    rec = Recorder()
    rec.submit(scheduler, "live", "a, b, c, d.")
    time.sleep(0.05)
    job.cancel()  # paused, waiting behind the live job
    assert job_done.wait(5)
    assert rec.finished.wait(10)
    assert rec.done == {"live": None}
    assert job_chunks == []  # its first chunk was paused, then never made
    assert engine.calls.count(LONG) == 1  # and it was never resumed
    scheduler.close()


def test_reject_admission_refuses_live_work_over_capacity_but_not_jobs() -> None:
    engine = ToneEngine(seconds_per_chunk=0.2)
    scheduler = SynthesisScheduler(engine, workers=1,
                                   admission=Admission("reject", 1, max_live_jobs=1))
    rec = Recorder()
    rec.submit(scheduler, "first", LONG)
    with pytest.raises(ServerBusy) as refused:
        rec.submit(scheduler, "second", LONG)
    assert refused.value.http_status == 503
    assert int(refused.value.headers["Retry-After"]) >= 1
    scheduler.submit(owner="job", text="a job line.", voice=engine.default_voice(),
                     options=SynthesisOptions(), on_chunk=lambda chunk: None,
                     on_done=lambda error: None, background=True)
    rec.expected = 1
    assert rec.finished.wait(10)
    rec.submit(scheduler, "third", "again.")  # room again once the first is done
    scheduler.close()


def test_degrade_admission_serves_everyone() -> None:
    engine = ToneEngine(seconds_per_chunk=0.01)
    scheduler = SynthesisScheduler(engine, workers=1,
                                   admission=Admission("degrade", 1, max_live_jobs=1))
    rec = Recorder()
    for name in ("a", "b", "c"):
        rec.submit(scheduler, name, LONG)
    assert rec.finished.wait(10)
    assert rec.done == {"a": None, "b": None, "c": None}
    scheduler.close()


@pytest.mark.parametrize(("policy", "live", "job"), [("responsive", True, False),
                                                      ("classic", False, False)])
def test_live_work_asks_the_engine_for_bounded_chunks(policy: SchedulerPolicy, live: bool,
                                                      job: bool) -> None:
    engine = ToneEngine()
    scheduler = SynthesisScheduler(engine, workers=1, policy=policy)
    submit_quietly(scheduler, [("live.", SynthesisOptions(), False),
                               ("job.", SynthesisOptions(), True)])(5)
    asked = asked_options(engine)
    assert asked["live."].bounded_chunks is live
    assert asked["job."].bounded_chunks is job
    scheduler.close()


def test_a_live_job_pauses_every_running_background_job() -> None:
    engine = ToneEngine(seconds_per_chunk=0.4)
    scheduler = SynthesisScheduler(engine, workers=2)
    wait_background = submit_quietly(
        scheduler, [(text, SynthesisOptions(), True) for text in ("first, line.", "second, line.")])
    time.sleep(0.1)  # both chunks are being made, on both workers
    rec = Recorder()
    rec.submit(scheduler, "live", "hi.")
    assert rec.finished.wait(5)
    wait_background(10)
    # both paused first chunks were made again: no background chunk took CPU from "hi."
    assert engine.calls.count("first, line.") == 2
    assert engine.calls.count("second, line.") == 2
    scheduler.close()

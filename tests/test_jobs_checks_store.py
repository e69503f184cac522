"""The store's side of checked takes: a database made before checks upgrades in place,
a line is decided once every take is checked, and choosing the best take is pure logic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from breathvoice.db import open_database
from breathvoice.db.engine import MIGRATIONS
from breathvoice.jobs.bestof import best_take, take_variant
from breathvoice.jobs.models import Take
from breathvoice.jobs.script import ScriptLine
from breathvoice.jobs.store import JobStore


def report(verdict: str, error_rate: float) -> dict[str, object]:
    return {"verdict": verdict, "error_rate": error_rate, "reasons": []}


def test_a_database_made_before_checks_upgrades_and_keeps_its_takes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    old = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql("INSERT INTO jobs VALUES ('j', 'n', 'o', 'completed', 1, 1, 5, "
                             "1.0, 2.0, 3.0)")
        conn.exec_driver_sql("INSERT INTO job_lines (job_id, position, line_id, filename, "
                             "text, voice_group_id, emotion, speed, status, takes_wanted, "
                             "fence) VALUES ('j', 0, 'a', 'a.wav', 'hello', 'Demo', "
                             "'greeting', 1.0, 'completed', 1, 1)")
        conn.exec_driver_sql("INSERT INTO takes VALUES ('j', 0, 1, 'j/1/Demo/a.wav', "
                             "'greeting', 'Demo_greeting.wav', 1.5, 2.5)")
    old.dispose()
    store = JobStore(open_database(url))
    job = store.get("j")
    assert job.loudness is None and job.verdict_counts()["pending"] == 1
    [take] = store.line("j", "a").takes
    assert take.created_at == 2.5 and take.qa is None
    assert [(line.line_id, t.take) for _, line, t in store.unchecked()] == [("a", 1)]
    assert store.record_qa("j", 0, 1, report("ok", 0.0), now=4.0) is None  # not waiting
    assert store.get("j").verdict_counts() == {"ok": 1, "warn": 0, "fail": 0, "pending": 0}


def test_a_line_waits_for_every_check_then_is_rerolled_or_decided(tmp_path: Path) -> None:
    store = JobStore(open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    store.create("j", "j", "owner", 2, [ScriptLine("a", "a.wav", "hello", "Demo", "g")],
                 now=1.0)

    def render(number: int) -> None:
        [claim] = store.claim("node", 1, lease_seconds=30, now=2.0)
        assert claim.take == number
        take = Take(number, f"j/{number}/Demo/a.wav", "g", "r.wav", 1.0, 3.0)
        assert store.commit_take(claim, take, now=3.0, checking=True)

    render(1)
    render(2)
    assert store.line("j", "a").status == "checking"
    assert store.record_qa("j", 0, 2, report("fail", 0.9), now=4.0) is None  # 1 pending
    assert store.record_qa("j", 0, 1, report("fail", 0.8), now=4.0) == "queued"  # re-roll
    assert store.get("j").status == "in_progress"
    render(3)
    assert store.record_qa("j", 0, 3, report("fail", 0.85), now=5.0) == "queued"
    render(4)
    assert store.record_qa("j", 0, 4, report("fail", 0.95), now=6.0) == "completed"
    line = store.line("j", "a")
    assert line.status == "completed" and line.chosen_take == 1 and line.chosen_by == "auto"
    assert store.get("j").status == "completed"
    assert store.claim("node", 1, lease_seconds=30, now=7.0) == []  # two re-rolls at most


def test_best_take_and_every_take_spoken_differently() -> None:
    assert best_take([(1, "fail", 0.1), (2, "warn", 0.6), (3, "warn", 0.55)]) == 3
    assert best_take([(1, "ok", 0.2), (2, "ok", 0.0), (3, "ok", 0.0)]) == 2
    assert best_take([]) is None
    variants = [take_variant(n) for n in range(1, 18)]
    assert variants[0].speed_factor == 1.0 and not variants[0].early_split
    assert len({(v.speed_factor, v.early_split) for v in variants}) == 17
    assert all(0.96 <= v.speed_factor <= 1.04 for v in variants)
    assert take_variant(2).options(2.0, "en").speed == 1.92
    assert take_variant(3).options(2.0, "en").speed == 2.0  # the engine's fastest

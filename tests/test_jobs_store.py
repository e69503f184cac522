"""The job store on its own, on SQLite and on PostgreSQL: migrations build exactly the
declared schema, and leases fence off a runner that lost its line to another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from breathvoice.db import metadata, open_database
from breathvoice.jobs.models import Take
from breathvoice.jobs.runner import JobRunner
from breathvoice.jobs.script import ScriptLine
from breathvoice.jobs.store import JobStore


def test_migrations_build_the_declared_schema_and_run_twice(db_url: str) -> None:
    open_database(db_url).dispose()
    db = open_database(db_url)  # already at the newest revision: nothing to do
    with db.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        else:
            assert conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    db.dispose()


def test_a_runner_whose_lease_ran_out_cannot_commit(db_url: str) -> None:
    store = JobStore(open_database(db_url))
    line = ScriptLine("a", "a.wav", "hello", "Demo", "greeting")
    store.create("job1", "j", "owner", 1, [line], now=100.0)
    [first] = store.claim("node-a", 5, lease_seconds=10, now=100.0)
    assert store.claim("node-b", 5, lease_seconds=10, now=105.0) == []  # still leased
    [second] = store.claim("node-b", 5, lease_seconds=10, now=111.0)  # lease ran out
    assert second.fence == first.fence + 1
    take = Take(1, "job1/1/Demo/a.wav", "greeting", "Demo_greeting.wav", 1.0, 112.0)
    assert not store.commit_take(first, take, now=112.0)
    assert store.get("job1").status == "in_progress"
    assert store.commit_take(second, take, now=113.0)
    job = store.get("job1")
    assert job.status == "completed" and job.counts.completed == 1
    assert [t.created_at for t in store.line("job1", "a").takes] == [112.0]


def test_a_start_requeues_only_lines_of_dead_processes_of_this_host(db_url: str,
                                                                    tmp_path: Path) -> None:
    store = JobStore(open_database(db_url))
    script = [ScriptLine(str(i), f"{i}.wav", "hello", "Demo", "greeting") for i in range(3)]
    store.create("job1", "j", "owner", 1, script, now=time.time())
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    host = socket.gethostname()[:32]
    dead, live, elsewhere = (f"{host}:{ended.stdout.strip()}:aaaa",
                             f"{host}:{os.getppid()}:bbbb", "other-host:1:cccc")
    for node in (dead, live, elsewhere):
        store.claim(node, 1, lease_seconds=60, now=time.time())
    assert store.lease_owners() == {dead, live, elsewhere}
    runner = JobRunner(store, None, None, tmp_path, concurrency=1,  # type: ignore[arg-type]
                       lease_seconds=60)
    assert runner.recover() == 1
    assert store.lease_owners() == {live, elsewhere}
    assert [line.status for line in store.lines("job1")] == ["queued", "rendering", "rendering"]

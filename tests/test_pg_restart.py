"""A PostgreSQL restart in the middle of a job: the runner waits for the database, and
the job completes once it is back, every line rendered once."""

from __future__ import annotations

import time
from collections import Counter

from conftest import AppFactory
from pg_server import PostgresServer
from test_jobs_api import lines, wait_ended
from tone_engine import ToneEngine

LINES = 16


def test_a_job_survives_a_postgresql_restart(app: AppFactory, postgres: PostgresServer) -> None:
    engine = ToneEngine(seconds_per_chunk=0.15)
    script = lines(LINES)
    with app(engine, database_url=postgres.fresh_url(), job_concurrency=2) as client:
        job_id = client.post("/breathvoice/jobs", json={"lines": script}).json()["job_id"]
        deadline = time.monotonic() + 30
        done = 0
        while done < 2 and time.monotonic() < deadline:
            done = client.get(f"/breathvoice/jobs/{job_id}").json()["request_counts"]["completed"]
            time.sleep(0.05)
        assert 2 <= done < LINES, done
        postgres.stop()
        try:
            away = client.get(f"/breathvoice/jobs/{job_id}")
            assert away.status_code == 503 and away.json()["code"] == "SERVICE_UNAVAILABLE"
            assert "postgres" not in away.text.lower()
            time.sleep(1.5)  # lines finish rendering while the database is away
        finally:
            postgres.start()
        job = wait_ended(client, job_id, timeout=90)
        assert job["status"] == "completed"
        assert job["request_counts"] == {"total": LINES, "completed": LINES, "failed": 0,
                                          "cancelled": 0}
        listed = client.get(f"/breathvoice/jobs/{job_id}/lines").json()["lines"]
        assert [len(line["takes"]) for line in listed] == [1] * LINES
        for line in listed:
            audio = client.get(line["takes"][0]["audio_url"])
            assert audio.status_code == 200 and len(audio.content) > 1000
    spoken = Counter(engine.calls)
    assert all(spoken[line["text"]] == 1 for line in script), spoken  # nothing rendered twice

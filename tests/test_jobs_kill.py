"""``kill -9`` in the middle of a script job, then a restart on the same data folder.

A real server process (tone engine, slowed so a line takes a moment) renders a 40-line
job. Once some lines but not all are done, the server is killed with SIGKILL. With the
process dead, the database says which takes were committed. The server restarts on the
same folder, the job resumes by itself and completes; every line finished before the kill
keeps its one take (same take number, same ``created_at``, same file), and every file
decodes to audible sound.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import requests

from audio_checks import check_wav
from conftest import LiveServer, start_server, stop_server, tone_serve_command

LAUNCH = tone_serve_command('ENGINES["tone"] = lambda _: ToneEngine(seconds_per_chunk=0.25)')
LINES = 40


def start(data_dir: Path, log: Path) -> LiveServer:
    return start_server(data_dir, log, LAUNCH,
                        BREATHVOICE_ENGINE="tone", BREATHVOICE_JOB_CONCURRENCY="2",
                        BREATHVOICE_JOB_QA="false")  # tones are not speech


def committed_takes(data_dir: Path, job_id: str) -> dict[int, list[tuple[int, float, str]]]:
    """Takes per line position, read straight from the database of a dead server."""
    with sqlite3.connect(data_dir / "breathvoice.sqlite3") as db:
        rows = db.execute("SELECT position, take, created_at, path FROM takes "
                          "WHERE job_id = ? ORDER BY position, take", (job_id,)).fetchall()
    found: dict[int, list[tuple[int, float, str]]] = {}
    for position, take, created_at, path in rows:
        found.setdefault(position, []).append((take, created_at, path))
    return found


def wait_for(server: LiveServer, job_id: str, done: int, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{server.base_url}/breathvoice/jobs/{job_id}", timeout=10).json()
        if job["request_counts"]["completed"] >= done or job["status"] in ("completed",
                                                                            "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job did not reach {done} lines in {timeout} s")


def test_kill_and_resume(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    server = start(data, log)
    try:
        lines = [{"text": f"Line number {i} of the script", "filename": f"line{i:02d}_B1.wav",
                  "voice_group_id": "Demo"} for i in range(LINES)]
        answer = requests.post(f"{server.base_url}/breathvoice/jobs",
                               json={"name": "kill me", "lines": lines}, timeout=30)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        wait_for(server, job_id, LINES // 4, timeout=120)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    except BaseException:
        stop_server(server)
        raise

    before = committed_takes(data, job_id)
    assert 0 < len(before) < LINES, f"{len(before)} lines done at the kill"
    mtimes = {p: os.stat(data / "jobs" / takes[0][2]).st_mtime_ns
              for p, takes in before.items()}
    print(f"\nkilled with {len(before)} of {LINES} lines done")

    server = start(data, log)
    try:
        job = wait_for(server, job_id, LINES, timeout=180)
        assert job["status"] == "completed", job
        assert job["request_counts"] == {"total": LINES, "completed": LINES, "failed": 0,
                                         "cancelled": 0}
        page = requests.get(f"{server.base_url}/breathvoice/jobs/{job_id}/lines",
                            params={"limit": LINES}, timeout=10).json()
        assert page["total"] == LINES
        for position, line in enumerate(page["lines"]):
            assert line["status"] == "completed"
            assert len(line["takes"]) == 1, line  # nothing rendered twice
            take = line["takes"][0]
            if position in before:
                assert [(take["take"], take["created_at"])] == \
                    [(t, c) for t, c, _ in before[position]]
            audio = requests.get(take["audio_url"], timeout=10)
            assert audio.status_code == 200
            check_wav(audio.content, min_seconds=0.5)
        after = committed_takes(data, job_id)
        for position, mtime in mtimes.items():
            assert os.stat(data / "jobs" / after[position][0][2]).st_mtime_ns == mtime
        leftovers = [p for p in (data / "jobs").rglob("*") if p.name.startswith(".partial-")]
        assert leftovers == []
        print(f"resumed: {LINES - len(before)} lines rendered after the restart, "
              f"0 of the {len(before)} done before it rendered again")
    finally:
        stop_server(server)

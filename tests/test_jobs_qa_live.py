"""Checked job takes on real servers: the real engine and checker (best of three, delivery
loudness measured by an independent meter, the SDK's view), and ``breathvoice jobs status``
listing the lines that failed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
import soundfile as sf

from audio_checks import check_wav, reference_meter
from conftest import LiveServer, start_server, stop_server, tone_serve_command
from multi_ws_tts_sdk import BreathVOICEClient

TESTS_DIR = Path(__file__).resolve().parent
RANK = {"ok": 0, "warn": 1, "fail": 2}


def wait_job(client: BreathVOICEClient, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get_job(job_id)
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(1)
    raise AssertionError(f"job did not end: {job}")


@pytest.mark.timeout(1800)  # six real renders and checks; the checks yield the CPU to all else
def test_best_of_three_on_the_real_engine_and_checker(live_server: LiveServer) -> None:
    client = BreathVOICEClient(live_server.base_url)
    lines = [{"text": "这个问题很难，我需要再想一想。", "filename": "zh_B1.wav", "language": "zh"},
             {"text": "Please close the window before you leave the room.",
              "filename": "en_greeting.wav", "language": "en"}]
    answer = requests.post(f"{live_server.base_url}/breathvoice/jobs", json={
        "lines": [{**line, "voice_group_id": "Demo"} for line in lines], "takes": 3,
        "loudness": "podcast"}, timeout=30)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    job = wait_job(client, job_id, timeout=900)
    assert job["status"] == "completed"
    assert job["qa_counts"] == {"ok": 2, "warn": 0, "fail": 0, "pending": 0}
    found = client.get_job_lines(job_id)["lines"]
    for line, script in zip(found, lines, strict=True):
        takes = line["takes"]
        assert [t["take"] for t in takes][:3] == [1, 2, 3]
        assert all(t["qa"] is not None and t["qa"]["heard"] for t in takes)
        assert len({t["duration"] for t in takes}) == len(takes)  # every take differs
        chosen = next(t for t in takes if t["take"] == line["chosen_take"])
        best = min(takes, key=lambda t: (RANK[t["qa"]["verdict"]], t["qa"]["error_rate"],
                                         t["take"]))
        assert chosen == best and line["chosen_by"] == "auto"
        assert chosen["qa"]["text"] == script["text"]
        assert chosen["qa"]["verdict"] == "ok", chosen["qa"]
    pack = zipfile.ZipFile(io.BytesIO(client.download_job(job_id)))
    manifest = json.loads(pack.read("manifest.json"))
    for record in manifest["lines"]:
        data = pack.read(record["path"])
        check_wav(data, min_seconds=1.0)
        samples, rate = sf.read(io.BytesIO(data), dtype="float64")
        measured, peak = reference_meter(samples, rate)  # libebur128, not our meter
        assert measured == pytest.approx(-16.0, abs=1.0)
        assert peak <= -1.0 + 0.05
        assert record["integrated_lufs"] == pytest.approx(measured, abs=0.3)
        assert record["verdict"] == "ok" and record["reasons"] == []


LAUNCH = tone_serve_command("""
from tone_hearing import RecordingTone, ToneHearing
from breathvoice.qa.recognise import RECOGNISERS
engine = RecordingTone(fail_on="boom")
ENGINES["tone"] = lambda _: engine
RECOGNISERS["tones"] = lambda _: ToneHearing(engine, lambda text, speed: "misheard" in text)
""")


def test_jobs_status_lists_the_lines_that_failed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", tmp_path / "server.log",
                          LAUNCH, BREATHVOICE_ENGINE="tone",
                          BREATHVOICE_QA_RECOGNISER="tones")
    try:
        client = BreathVOICEClient(server.base_url)
        job = client.submit_job([
            {"text": "A fine line", "filename": "fine.wav", "line_id": "fine"},
            {"text": "This line is always misheard", "filename": "bad.wav",
             "line_id": "heard-wrong"},
            {"text": "Then boom, it breaks", "filename": "boom.wav", "line_id": "broken"},
        ], "Demo", loudness={"target_lufs": -20, "true_peak_db": -2})
        done = wait_job(client, job["job_id"], timeout=120)
        assert done["loudness"] == {"target_lufs": -20.0, "true_peak_db": -2.0}
        assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1,
                                          "cancelled": 0}
        assert done["qa_counts"] == {"ok": 1, "warn": 0, "fail": 1, "pending": 0}
        env = {**os.environ, "BREATHVOICE_URL": server.base_url, "COLUMNS": "200"}
        shown = subprocess.run([sys.executable, "-m", "breathvoice", "jobs", "status",
                                job["job_id"]], env=env, capture_output=True, text=True,
                               timeout=120)
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout
        assert '"qa_counts"' in out and "2 lines failed" in out
        assert "heard-wrong" in out and "failed its check" in out
        assert "does not match the script" in out
        assert "broken" in out and "not rendered" in out
        assert "fine.wav" not in out
    finally:
        stop_server(server)

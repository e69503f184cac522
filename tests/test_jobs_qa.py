"""Checked job takes, in process on the tone engine with a recogniser that hears tones:
best of N, the automatic re-roll, choose and redo, delivery loudness in the archive."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from audio_checks import check_wav, reference_meter
from breathvoice.qa.recognise import RECOGNISERS
from conftest import AppFactory
from test_jobs_api import wait_ended
from tone_hearing import RecordingTone, ToneHearing

Mishear = Callable[[str, float], bool]


@pytest.fixture
def checked(app: AppFactory, monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., tuple[TestClient, ToneHearing]]:
    """An app whose job takes are checked by a recogniser that mishears as told."""
    def make(mishear: Mishear = lambda text, speed: False, **settings: Any
             ) -> tuple[TestClient, ToneHearing]:
        engine = RecordingTone()
        hearing = ToneHearing(engine, mishear)
        monkeypatch.setitem(RECOGNISERS, "tones", lambda _: hearing)
        return app(engine, job_qa=True, qa_recogniser="tones", **settings), hearing
    return make


def job_lines(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = client.get(f"/breathvoice/jobs/{job_id}/lines").json()["lines"]
    return lines


def submit(client: TestClient, lines: list[dict[str, Any]], **fields: Any) -> str:
    answer = client.post("/breathvoice/jobs", json={"lines": lines, **fields})
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def test_best_of_three_checks_every_take_and_keeps_the_best(checked) -> None:  # type: ignore[no-untyped-def]
    # take 1 is spoken at the line's speed, 2 at 0.96x, 3 at 1.04x
    client, hearing = checked(lambda text, speed: "first" in text and speed == 1.0
                              or "third" in text and speed != 1.04)
    lines = [{"text": "The first line is misheard once", "filename": "a.wav"},
             {"text": "Only the third take of this one is heard right", "filename": "b.wav"},
             {"text": "All good", "filename": "c.wav"}]
    with client:
        job_id = submit(client, [{**x, "voice_group_id": "Demo"} for x in lines], takes=3)
        job = wait_ended(client, job_id)
        found = job_lines(client, job_id)
    assert job["status"] == "completed"
    assert job["qa_counts"] == {"ok": 3, "warn": 0, "fail": 0, "pending": 0}
    for line in found:
        assert [t["take"] for t in line["takes"]] == [1, 2, 3]
        assert all(t["qa"] is not None for t in line["takes"])
        assert len({t["duration"] for t in line["takes"]}) == 3  # every take differs
        assert line["chosen_by"] == "auto"
    verdicts = {x["filename"]: [t["qa"]["verdict"] for t in x["takes"]] for x in found}
    assert verdicts == {"a.wav": ["fail", "ok", "ok"], "b.wav": ["fail", "fail", "ok"],
                        "c.wav": ["ok", "ok", "ok"]}
    assert {x["filename"]: x["chosen_take"] for x in found} == {"a.wav": 2, "b.wav": 3,
                                                                "c.wav": 1}
    bad = found[0]["takes"][0]["qa"]
    assert bad["error_rate"] > 0.75 and "does not match the script" in bad["reasons"][0]
    assert len(hearing.heard) == 9


def test_a_failed_take_is_rerolled_once_by_itself(checked) -> None:  # type: ignore[no-untyped-def]
    client, hearing = checked(lambda text, speed: "once" in text and speed == 1.0
                              or "never" in text)
    lines = [{"text": "Heard wrong once, then right", "filename": "once.wav"},
             {"text": "This one is never heard right", "filename": "never.wav"},
             {"text": "Two takes were asked for on this line", "filename": "two.wav",
              "takes": 2}]
    with client:
        job_id = submit(client, [{**x, "voice_group_id": "Demo"} for x in lines])
        job = wait_ended(client, job_id)
        once, never, two = job_lines(client, job_id)
        archive = zipfile.ZipFile(io.BytesIO(
            client.get(f"/breathvoice/jobs/{job_id}/archive").content))
    assert [t["qa"]["verdict"] for t in once["takes"]] == ["fail", "ok"]
    assert once["chosen_take"] == 2 and once["takes"][1]["variant"]["speed_factor"] == 0.96
    # a re-roll that fails is not re-rolled again; the line keeps its best (earliest) take
    assert [t["qa"]["verdict"] for t in never["takes"]] == ["fail", "fail"]
    assert never["status"] == "completed" and never["chosen_take"] == 1
    assert [t["take"] for t in two["takes"]] == [1, 2] and two["chosen_take"] == 1
    assert job["qa_counts"] == {"ok": 2, "warn": 0, "fail": 1, "pending": 0}
    report = list(csv.DictReader(io.StringIO(archive.read("report.csv").decode("utf-8-sig"))))
    row = {r["filename"]: r for r in report}["never.wav"]
    assert row["verdict"] == "fail" and float(row["error_rate"]) > 0.75
    assert "does not match the script" in row["reasons"]
    manifest = json.loads(archive.read("manifest.json"))
    assert {x["filename"]: x["verdict"] for x in manifest["lines"]} == {
        "once.wav": "ok", "never.wav": "fail", "two.wav": "ok"}
    assert len(hearing.heard) == 6


def test_choose_wins_over_the_automatic_choice_and_redo_is_checked(checked) -> None:  # type: ignore[no-untyped-def]
    client, _ = checked(lambda text, speed: speed == 1.0)
    with client:
        job_id = submit(client, [{"text": "Pick me anyway", "filename": "p.wav",
                                  "voice_group_id": "Demo"}], takes=2)
        wait_ended(client, job_id)
        line = job_lines(client, job_id)[0]
        assert line["chosen_take"] == 2 and line["chosen_by"] == "auto"
        chosen = client.post(f"/breathvoice/jobs/{job_id}/lines/1/choose", json={"take": 1})
        assert chosen.status_code == 200 and chosen.json()["chosen_by"] == "user"
        assert client.get(f"/breathvoice/jobs/{job_id}").json()["qa_counts"]["fail"] == 1
        assert client.post(f"/breathvoice/jobs/{job_id}/lines/1/redo").status_code == 202
        wait_ended(client, job_id)
        line = job_lines(client, job_id)[0]
    assert [t["qa"]["verdict"] for t in line["takes"]] == ["fail", "ok", "ok"]
    assert line["chosen_take"] == 1 and line["chosen_by"] == "user"


@pytest.mark.parametrize(("loudness", "lufs", "ceiling"), [
    ("game", -18.0, -1.0),
    ({"target_lufs": -14, "true_peak_db": -3}, -14.0, -3.0),
])
def test_loudness_every_file_in_the_archive_is_on_target(checked, loudness: object,  # type: ignore[no-untyped-def]
                                                         lufs: float, ceiling: float) -> None:
    client, _ = checked()
    lines = [{"text": f"Line number {i}, spoken, with a pause. And {'more ' * i}words",
              "filename": f"l{i}.wav", "voice_group_id": "Demo"} for i in range(4)]
    with client:
        job_id = submit(client, lines, loudness=loudness, takes=2)
        job = wait_ended(client, job_id)
        pack = zipfile.ZipFile(io.BytesIO(
            client.get(f"/breathvoice/jobs/{job_id}/archive").content))
    assert job["loudness"] == {"target_lufs": lufs, "true_peak_db": ceiling}
    manifest = json.loads(pack.read("manifest.json"))
    assert manifest["loudness"] == job["loudness"]
    for record in manifest["lines"]:
        data = pack.read(record["path"])
        check_wav(data, min_seconds=0.3)
        samples, rate = sf.read(io.BytesIO(data), dtype="float64")
        measured, peak = reference_meter(samples, rate)  # libebur128, not our meter
        assert measured == pytest.approx(lufs, abs=1.0)
        assert peak <= ceiling + 0.05
        assert record["integrated_lufs"] == pytest.approx(measured, abs=0.3)
        assert record["true_peak_db"] <= ceiling


def test_loudness_in_a_multipart_job_and_bad_values(app: AppFactory) -> None:
    script = b"filename,text,takes\nx.wav,Hello there friend,2\ny.wav,Goodbye now,\n"
    with app() as client:
        answer = client.post("/breathvoice/jobs", files={"file": ("s.csv", script)},
                             data={"voice_group_id": "Demo", "loudness": "broadcast"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["loudness"] == {"target_lufs": -23.0, "true_peak_db": -1.0}
        lines = job_lines(client, answer.json()["job_id"])
        wait_ended(client, answer.json()["job_id"])
        lines = job_lines(client, answer.json()["job_id"])
        assert [len(x["takes"]) for x in lines] == [2, 1]
        as_json = client.post("/breathvoice/jobs", files={"file": ("s.csv", script)}, data={
            "voice_group_id": "Demo", "loudness": '{"target_lufs": -20, "true_peak_db": -2}'})
        assert as_json.json()["loudness"] == {"target_lufs": -20.0, "true_peak_db": -2.0}
        for bad, words in [("loudest", "unknown loudness preset"),
                           ({"target_lufs": 3}, "target_lufs must be between"),
                           ({"target_lufs": "x"}, "loudness takes numbers"),
                           ({"lufs": -16}, "loudness takes numbers"), (7, "preset name")]:
            refused = client.post("/breathvoice/jobs", json={"loudness": bad, "lines": [
                {"text": "hi", "filename": "z.wav", "voice_group_id": "Demo"}]})
            assert refused.status_code == 400 and words in refused.json()["error"], bad
        too_many = client.post("/breathvoice/jobs", json={"lines": [
            {"text": "hi", "filename": "z.wav", "voice_group_id": "Demo", "takes": 6}]})
        assert too_many.status_code == 400
        assert "lines[0].takes" in too_many.json()["error"]
        assert len(client.get("/breathvoice/jobs").json()["jobs"]) == 2


def test_checks_a_stopped_server_left_pending_run_after_a_restart(  # type: ignore[no-untyped-def]
        checked, app: AppFactory, tmp_path: Path) -> None:
    client, hearing = checked()
    with client:
        job_id = submit(client, [{"text": "Check me later", "filename": "later.wav",
                                  "voice_group_id": "Demo"}])
        wait_ended(client, job_id)
    with sqlite3.connect(tmp_path / "breathvoice.sqlite3") as db:  # as if stopped mid-check
        db.execute("UPDATE takes SET verdict = NULL, qa = NULL, error_rate = NULL")
        db.execute("UPDATE job_lines SET status = 'checking', chosen_by = NULL")
        db.execute("UPDATE jobs SET status = 'in_progress', finished_at = NULL")
    heard_before = len(hearing.heard)
    with app(hearing.engine, job_qa=True, qa_recogniser="tones") as again:
        job = wait_ended(again, job_id)
        [line] = job_lines(again, job_id)
    assert job["status"] == "completed" and job["qa_counts"]["ok"] == 1
    assert line["takes"][0]["qa"]["verdict"] == "ok" and line["chosen_by"] == "auto"
    assert len(hearing.heard) == heard_before + 1

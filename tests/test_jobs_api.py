"""Script jobs through the REST API, in process on the tone engine: submit (JSON and CSV),
cancel, redo and choose, the archive's layout, and hostile scripts refused whole."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audio_checks import check_wav
from conftest import AppFactory
from tone_engine import ToneEngine


def wait_ended(client: TestClient, job_id: str, timeout: float = 30,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/breathvoice/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not end")


def lines(n: int, prefix: str = "line") -> list[dict[str, Any]]:
    return [{"text": f"Words of line {i}", "filename": f"{prefix}{i}_B1.wav",
             "voice_group_id": "Demo"} for i in range(n)]


def test_json_job_runs_to_the_end_and_streams_events(app: AppFactory) -> None:
    with app() as client:
        answer = client.post("/breathvoice/jobs", json={"name": "pack", "lines": lines(6)})
        assert answer.status_code == 202
        job = answer.json()
        assert job["status"] == "queued" and job["request_counts"]["total"] == 6
        with client.stream("GET", f"/breathvoice/jobs/{job['job_id']}/events") as stream:
            body = stream.read().decode()
        events = [block.split("\n") for block in body.strip().split("\n\n")]
        kinds = [e[0].removeprefix("event: ") for e in events]
        assert kinds[-1] == "status"
        assert json.loads(events[-1][1].removeprefix("data: "))["status"] == "completed"
        final = wait_ended(client, job["job_id"])
        assert final["request_counts"]["completed"] == 6 and final["progress"] == 1.0
        page = client.get(f"/breathvoice/jobs/{job['job_id']}/lines",
                          params={"offset": 2, "limit": 3}).json()
        assert page["total"] == 6 and [x["line_id"] for x in page["lines"]] == ["3", "4", "5"]
        line = page["lines"][0]
        assert line["emotion"] == "B1_B2" and line["reference_audio"].endswith("B1_B2.wav")
        assert line["chosen_take"] == 1 and line["status"] == "completed"
        check_wav(client.get(line["takes"][0]["audio_url"]).content, min_seconds=0.3)
        listed = client.get("/breathvoice/jobs").json()
        assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]


def test_csv_job_with_default_group_and_archive(app: AppFactory) -> None:
    script = ("filename,text,emotion,line_id\n"
              "hello_greeting.wav,Hello there,,g1\n"
              "moan_B5.wav,Oh my,,b5\n"
              "plain.wav,\"Quoted, with comma\",B3_B4,x\n")
    with app() as client:
        answer = client.post("/breathvoice/jobs", data={"voice_group_id": "Demo"},
                             files={"file": ("script.csv", script.encode())})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        assert answer.json()["name"] == "script.csv"
        assert wait_ended(client, job_id)["status"] == "completed"
        pack = client.get(f"/breathvoice/jobs/{job_id}/archive")
        assert pack.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(pack.content))
        assert sorted(archive.namelist()) == ["Demo/hello_greeting.wav", "Demo/moan_B5.wav",
                                              "Demo/plain.wav", "manifest.json", "report.csv"]
        check_wav(archive.read("Demo/plain.wav"), min_seconds=0.3)
        manifest = json.loads(archive.read("manifest.json"))
        emotions = {x["line_id"]: x["emotion"] for x in manifest["lines"]}
        assert emotions == {"g1": "greeting", "b5": "B5_orgasm", "x": "B3_B4"}
        report = list(csv.DictReader(io.StringIO(archive.read("report.csv").decode("utf-8-sig"))))
        assert [r["filename"] for r in report] == ["hello_greeting.wav", "moan_B5.wav",
                                                   "plain.wav"]
        assert {r["take"] for r in report} == {"1"} and {r["status"] for r in report} == \
            {"completed"}


def test_cancel_keeps_finished_lines(app: AppFactory) -> None:
    with app(ToneEngine(seconds_per_chunk=0.1), job_concurrency=1) as client:
        job_id = client.post("/breathvoice/jobs", json={"lines": lines(30)}).json()["job_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/breathvoice/jobs/{job_id}").json()[
                "request_counts"]["completed"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = client.post(f"/breathvoice/jobs/{job_id}/cancel")
        assert answer.status_code == 200
        assert answer.json()["status"] in ("cancelling", "cancelled")
        final = wait_ended(client, job_id)
        counts = final["request_counts"]
        assert final["status"] == "cancelled"
        assert counts["completed"] >= 2 and counts["cancelled"] >= 20
        assert counts["completed"] + counts["cancelled"] == 30
        page = client.get(f"/breathvoice/jobs/{job_id}/lines", params={"limit": 30}).json()
        done = [x for x in page["lines"] if x["status"] == "completed"]
        assert all(len(x["takes"]) == 1 for x in done)
        assert all(x["takes"] == [] for x in page["lines"] if x["status"] == "cancelled")


def test_redo_and_choose(app: AppFactory) -> None:
    with app() as client:
        job_id = client.post("/breathvoice/jobs", json={"lines": lines(2)}).json()["job_id"]
        wait_ended(client, job_id)
        redo = client.post(f"/breathvoice/jobs/{job_id}/lines/2/redo")
        assert redo.status_code == 202 and redo.json()["status"] == "queued"
        wait_ended(client, job_id)
        line = client.get(f"/breathvoice/jobs/{job_id}/lines").json()["lines"][1]
        assert [t["take"] for t in line["takes"]] == [1, 2] and line["chosen_take"] == 2
        chosen = client.post(f"/breathvoice/jobs/{job_id}/lines/2/choose", json={"take": 1})
        assert chosen.status_code == 200 and chosen.json()["chosen_take"] == 1
        bad = client.post(f"/breathvoice/jobs/{job_id}/lines/2/choose", json={"take": 7})
        assert bad.status_code == 400 and "no take 7" in bad.json()["error"]
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(
            client.get(f"/breathvoice/jobs/{job_id}/archive").content)).read("manifest.json"))
        assert [x["take"] for x in manifest["lines"]] == [1, 1]
        assert client.delete(f"/breathvoice/jobs/{job_id}").status_code == 200
        assert client.get(f"/breathvoice/jobs/{job_id}").status_code == 404


HOSTILE = {
    "missing column": (b"filename,words\na.wav,hello\n", "column 'text' is missing"),
    "unknown group": (b"filename,text,voice_group_id\na.wav,hi,Nobody\n",
                      "row 2, column 'voice_group_id'"),
    "path traversal": (b"filename,text\n../../etc/x.wav,hi\n", "row 2, column 'filename'"),
    "duplicate filename": (b"filename,text\na.wav,hi\nb.wav,yo\na.wav,again\n",
                           "row 4, column 'filename'"),
    "bad encoding": ("filename,text\na.wav,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    "formula": (b"filename,text\na.wav,hi\nb.wav,\"=HYPERLINK(\"\"x\"\")\"\n",
                "row 3, column 'text'"),
    "too many rows": (b"filename,text\n" + b"".join(b"f%d.wav,x\n" % i for i in range(100_000)),
                      "more than 5000 lines"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_scripts_are_refused_whole(app: AppFactory, tmp_path: Path, case: str) -> None:
    data, expected = HOSTILE[case]
    with app() as client:
        answer = client.post("/breathvoice/jobs", data={"voice_group_id": "Demo"},
                             files={"file": ("script.csv", data)})
        assert answer.status_code == 400, answer.text
        assert expected in answer.json()["error"]
        assert client.get("/breathvoice/jobs").json()["count"] == 0
    assert not any((tmp_path / "jobs").iterdir())


def test_bad_json_lines_name_their_index(app: AppFactory) -> None:
    with app() as client:
        bad = lines(3)
        bad[1]["speed"] = 9
        answer = client.post("/breathvoice/jobs", json={"lines": bad})
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("lines[1].speed:")

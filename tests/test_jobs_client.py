"""Script jobs from the SDK and the ``breathvoice jobs`` command, against a real server."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from conftest import stop_server
from multi_ws_tts_sdk import AsyncBreathVOICEClient, BreathVOICEClient
from test_jobs_kill import start

SCRIPT = "filename,text\nhello_greeting.wav,Hello there\nhit_B3.wav,Take that\nsoft_B1.wav,Oh\n"


def test_sdk_and_cli(tmp_path: Path) -> None:
    server = start(tmp_path / "data", tmp_path / "server.log")
    try:
        script = tmp_path / "script.csv"
        script.write_text(SCRIPT)
        client = BreathVOICEClient(server.base_url)
        job = client.submit_job(script, "Demo", name="pack")
        assert job["status"] == "queued" and job["request_counts"]["total"] == 3
        events = list(client.iter_job_events(job["job_id"]))
        assert events[-1]["event"] == "status"
        assert events[-1]["data"]["status"] == "completed"
        seen: list[dict[str, Any]] = []
        done = client.wait_job(job["job_id"], progress=seen.append)
        assert done["status"] == "completed" and seen[-1] == done
        pack = zipfile.ZipFile(io.BytesIO(client.download_job(job["job_id"])))
        assert "Demo/hit_B3.wav" in pack.namelist()

        async def use_async() -> dict[str, Any]:
            aclient = AsyncBreathVOICEClient(server.base_url)
            ajob = await aclient.submit_job([{"text": "One more", "filename": "x.wav"}],
                                            "Demo")
            kinds = [e["event"] async for e in aclient.iter_job_events(ajob["job_id"])]
            assert kinds[-1] == "status"
            return await aclient.wait_job(ajob["job_id"], poll_interval=0.2)

        assert asyncio.run(use_async())["status"] == "completed"

        env = {**os.environ, "BREATHVOICE_URL": server.base_url}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "breathvoice", "jobs", *args],
                                  env=env, capture_output=True, text=True, timeout=120)

        submitted = cli("submit", str(script), "--voice-group", "Demo", "--wait")
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.split()[0]
        assert "completed, 3 made" in submitted.stdout
        assert job_id in cli("list").stdout
        assert '"completed"' in cli("status", job_id).stdout
        out = tmp_path / "pack.zip"
        assert cli("download", job_id, "-o", str(out)).returncode == 0
        assert sorted(zipfile.ZipFile(out).namelist())[:3] == [
            "Demo/hello_greeting.wav", "Demo/hit_B3.wav", "Demo/soft_B1.wav"]
        assert cli("status", "nope").returncode == 1
    finally:
        stop_server(server)

"""Job lines give way to live requests and still come out whole.

Two workers both speak job lines; each live request pauses one (its running chunk is
aborted) and the line resumes where it stopped. Every take must still hold the whole
line: the tone engine speaks 60 ms per character, so a take's length says exactly what
was spoken.
"""

from __future__ import annotations

import time

from conftest import AppFactory
from test_jobs_api import wait_ended
from tone_engine import ToneEngine

LINE = "one, two, three, four, five."


def test_live_requests_pause_job_lines_which_still_come_out_whole(app: AppFactory) -> None:
    engine = ToneEngine(seconds_per_chunk=0.15)
    with app(engine, engine_workers=2, job_concurrency=2) as client:
        script = [{"text": LINE, "filename": f"line{i}_B1.wav", "voice_group_id": "Demo"}
                  for i in range(6)]
        job_id = client.post("/breathvoice/jobs", json={"lines": script}).json()["job_id"]
        while LINE not in engine.calls:
            time.sleep(0.01)
        for _ in range(6):
            time.sleep(0.1)
            answer = client.post("/v1/audio/speech", json={
                "model": "tts-1", "input": "hi.", "voice": "Demo", "response_format": "pcm"})
            assert answer.status_code == 200 and len(answer.content) == 3 * 1440 * 2
        job = wait_ended(client, job_id, timeout=60)
        assert job["request_counts"]["completed"] == 6
        page = client.get(f"/breathvoice/jobs/{job_id}/lines").json()
    for line in page["lines"]:
        assert line["takes"][0]["duration"] == round(len(LINE) * 0.06, 3), line
    # a paused line is spoken again from where it stopped (its start, or a later clause)
    job_calls = [call for call in engine.calls if LINE.endswith(call)]
    assert len(job_calls) > len(script), "no job line was paused"

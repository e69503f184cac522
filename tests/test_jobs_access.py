"""Jobs and keys: characters charged once at acceptance, nothing for a refused job, and a
job seen only by the key that made it (and by admin keys); on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from breathvoice.keys import KeyStore
from breathvoice.settings import Settings
from conftest import AppFactory
from test_jobs_api import lines, wait_ended


def test_quota_and_ownership(app: AppFactory, tmp_path: Path, db_url: str) -> None:
    store = KeyStore.open(Settings(data_dir=tmp_path, database_url=db_url))
    owner, owner_record = store.create("synthesize", char_quota=100)
    other, _ = store.create("synthesize")
    admin, _ = store.create("admin")
    script = lines(4)  # 4 x 16 characters
    chars = sum(len(x["text"]) for x in script)
    with app(database_url=db_url) as client:
        as_owner = {"xi-api-key": owner}
        accepted = client.post("/breathvoice/jobs", json={"lines": script}, headers=as_owner)
        assert accepted.status_code == 202
        job_id = accepted.json()["job_id"]
        assert store.get(owner_record.id).chars_used == chars

        refused = client.post("/breathvoice/jobs", json={"lines": script}, headers=as_owner)
        assert refused.status_code == 402 and refused.json()["code"] == "INSUFFICIENT_QUOTA"
        invalid = client.post("/breathvoice/jobs", json={"lines": [{"text": "x"}]},
                              headers=as_owner)
        assert invalid.status_code == 400
        assert store.get(owner_record.id).chars_used == chars
        assert len(client.get("/breathvoice/jobs", headers=as_owner).json()["jobs"]) == 1

        assert wait_ended(client, job_id, headers=as_owner)["status"] == "completed"
        for path in ("", "/lines", "/archive"):
            seen = client.get(f"/breathvoice/jobs/{job_id}{path}", headers={"xi-api-key": other})
            assert seen.status_code == 404
        assert client.get("/breathvoice/jobs", headers={"xi-api-key": other}).json()["count"] == 0
        assert client.post(f"/breathvoice/jobs/{job_id}/cancel",
                           headers={"xi-api-key": other}).status_code == 404
        assert client.get(f"/breathvoice/jobs/{job_id}",
                          headers={"xi-api-key": admin}).status_code == 200
        assert client.get("/breathvoice/jobs", headers={"xi-api-key": admin}).json()["count"] == 1

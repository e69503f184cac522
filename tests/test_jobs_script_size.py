"""A long script fits in one submission: the body cap of ``POST /breathvoice/jobs`` is
``BREATHVOICE_MAX_SCRIPT_BYTES``, not the small cap of other JSON bodies."""

from __future__ import annotations

from pathlib import Path

from conftest import AppFactory

LINE = "The ferry leaves at dawn and every lantern on the pier is lit for it. " * 9


def long_script(rows: int) -> bytes:
    body = "".join(f"line_{i}.wav,{LINE}\n" for i in range(rows))
    return f"filename,text\n{body}line_0.wav,again\n".encode()


def test_a_script_larger_than_a_json_body_is_read_whole(app: AppFactory, tmp_path: Path
                                                       ) -> None:
    data = long_script(4000)
    assert len(data) > 2 * 1024 * 1024  # over BREATHVOICE_MAX_REQUEST_BODY_BYTES
    with app() as client:
        answer = client.post("/breathvoice/jobs", data={"voice_group_id": "Demo"},
                             files={"file": ("script.csv", data)})
        # the whole body was read and checked: the duplicate in its last row is named
        assert answer.status_code == 400, answer.text
        assert "row 4002, column 'filename'" in answer.json()["error"]
        assert client.get("/breathvoice/jobs").json()["count"] == 0
    assert not any((tmp_path / "jobs").iterdir())


def test_a_script_over_the_cap_gets_413(app: AppFactory, tmp_path: Path) -> None:
    data = long_script(2000)  # about 1.3 MB
    with app(max_script_bytes=64 * 1024) as client:
        answer = client.post("/breathvoice/jobs", data={"voice_group_id": "Demo"},
                             files={"file": ("script.csv", data)})
        assert answer.status_code == 413, answer.text
        assert "error" in answer.json()
        assert client.get("/breathvoice/jobs").json()["count"] == 0
    assert not any((tmp_path / "jobs").iterdir())

"""A job as a voice pack: a zip of the chosen takes, ``manifest.json`` and ``report.csv``.

Audio goes under ``{voice_group_id}/{filename}``, the layout single-tts uses. The manifest
lists every line (emotion, reference, duration, take, status); the report is the same as a
table for spreadsheet apps, with every cell that could be read as a formula quoted so it
is shown as text.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import IO, Any

from breathvoice.jobs.models import Job, JobLine
from breathvoice.jobs.script import FORMULA_STARTS

REPORT_COLUMNS = ("line_id", "voice_group_id", "filename", "text", "emotion",
                  "reference_audio", "take", "duration", "status", "error")


def line_record(line: JobLine) -> dict[str, Any]:
    take = line.chosen
    return {
        "line_id": line.line_id, "voice_group_id": line.voice_group_id,
        "filename": line.filename, "text": line.text,
        "emotion": take.emotion if take else line.emotion,
        "reference_audio": take.reference_audio if take else None,
        "take": take.take if take else None,
        "duration": take.duration if take else None,
        "status": line.status, "error": line.error,
        "path": f"{line.voice_group_id}/{line.filename}" if take else None,
    }


def safe_cell(value: Any) -> str:
    """A CSV cell spreadsheet apps show as text, never run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def report_csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for record in records:
        writer.writerow([safe_cell(record[column]) for column in REPORT_COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def write_archive(job: Job, lines: list[JobLine], root: Path, dest: IO[bytes]) -> None:
    """Write the pack of ``job`` (audio under ``root``) to ``dest`` (blocking)."""
    records = [line_record(line) for line in lines]
    manifest = {"job_id": job.job_id, "name": job.name, "status": job.status,
                "created_at": job.created_at, "finished_at": job.finished_at,
                "lines": records}
    with zipfile.ZipFile(dest, "w") as archive:
        for line in lines:
            take = line.chosen
            if take is not None and (root / take.path).is_file():
                archive.write(root / take.path, f"{line.voice_group_id}/{line.filename}")
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2),
                         zipfile.ZIP_DEFLATED)
        archive.writestr("report.csv", report_csv(records), zipfile.ZIP_DEFLATED)

"""A job as a voice pack: a zip of the chosen takes, ``manifest.json`` and ``report.csv``.

Audio goes under ``{voice_group_id}/{filename}``, the layout single-tts uses. The manifest
lists every line (emotion, reference, duration, take, status, the take's QA verdict,
reasons and error rate, and the file's loudness and peaks as measured); the report is the
same as a table for spreadsheet apps, with every text cell that could be read as a formula
quoted so it is shown as text.

The loudness is the QA report's (measured on the stored file) or, for a take not checked,
measured here on the file that goes into the zip.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import IO, Any

from breathvoice.audio.decode import decode_audio
from breathvoice.errors import BreathVoiceError
from breathvoice.jobs.models import Job, JobLine, Take
from breathvoice.jobs.script import FORMULA_STARTS
from breathvoice.qa.loudness import measure
from breathvoice.qa.report import loudness_fields

REPORT_COLUMNS = ("line_id", "voice_group_id", "filename", "text", "emotion",
                  "reference_audio", "take", "duration", "status", "error", "verdict",
                  "error_rate", "reasons", "integrated_lufs", "true_peak_db")
_NO_LOUDNESS = {"integrated_lufs": None, "sample_peak_db": None, "true_peak_db": None}


def _loudness(take: Take, root: Path) -> dict[str, float | None]:
    if take.qa is not None and take.qa.get("loudness", {}).get("true_peak_db") is not None:
        found: dict[str, float | None] = take.qa["loudness"]
        return found
    try:
        samples, rate = decode_audio((root / take.path).read_bytes())
    except (OSError, BreathVoiceError):
        return dict(_NO_LOUDNESS)
    return loudness_fields(measure(samples, rate))


def line_record(line: JobLine, root: Path) -> dict[str, Any]:
    take = line.chosen
    qa = take.qa if take else None
    loudness = _loudness(take, root) if take else dict(_NO_LOUDNESS)
    return {
        "line_id": line.line_id, "voice_group_id": line.voice_group_id,
        "filename": line.filename, "text": line.text,
        "emotion": take.emotion if take else line.emotion,
        "reference_audio": take.reference_audio if take else None,
        "take": take.take if take else None,
        "duration": take.duration if take else None,
        "status": line.status, "error": line.error,
        "path": f"{line.voice_group_id}/{line.filename}" if take else None,
        "chosen_by": line.chosen_by if take else None,
        "verdict": qa["verdict"] if qa else None,
        "reasons": qa["reasons"] if qa else [],
        "error_rate": qa["error_rate"] if qa else None,
        "heard": qa["heard"] if qa else None,
        "integrated_lufs": loudness["integrated_lufs"],
        "true_peak_db": loudness["true_peak_db"],
        "sample_peak_db": loudness["sample_peak_db"],
    }


def safe_cell(value: Any) -> str:
    """A CSV cell spreadsheet apps show as text, never run as a formula."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a number (-16.2) is read as a number, not a formula
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
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
    records = [line_record(line, root) for line in lines]
    target = job.loudness
    manifest = {"job_id": job.job_id, "name": job.name, "status": job.status,
                "created_at": job.created_at, "finished_at": job.finished_at,
                "loudness": None if target is None else {
                    "target_lufs": target.target_lufs, "true_peak_db": target.true_peak_db},
                "qa_counts": job.verdict_counts(),
                "lines": records}
    with zipfile.ZipFile(dest, "w") as archive:
        for line in lines:
            take = line.chosen
            if take is not None and (root / take.path).is_file():
                archive.write(root / take.path, f"{line.voice_group_id}/{line.filename}")
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2),
                         zipfile.ZIP_DEFLATED)
        archive.writestr("report.csv", report_csv(records), zipfile.ZIP_DEFLATED)

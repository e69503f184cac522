"""A creator's script, checked whole before anything is queued.

A script arrives as JSON (``{"lines": [{...}, ...]}``) or as a CSV/TSV file with a header
row (``filename,text`` and optionally ``voice_group_id,emotion,speed,language,line_id``).
Every row is checked the way single-tts checks a request, plus what only a whole script
can get wrong: duplicate file names within a voice group, duplicate line ids, more rows
than the cap. The first problem is reported as an :class:`InvalidRequest` naming its row
(CSV: the line number in the file, header = row 1; JSON: ``lines[i]``) and its column.

Cells that spreadsheet apps would run as formulas (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are refused, so a script and its report stay safe to
open.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from breathvoice.errors import InvalidRequest, VoiceGroupNotFound
from breathvoice.outputs import check_filename
from breathvoice.voices.library import VoiceLibrary
from breathvoice.voices.selection import find_emotion, select_emotion

REQUIRED_COLUMNS = ("filename", "text")
OPTIONAL_COLUMNS = ("voice_group_id", "emotion", "speed", "language", "line_id", "takes")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class ScriptLine:
    """One checked line: what the runner speaks and where the archive puts it."""

    line_id: str
    filename: str
    text: str
    voice_group_id: str
    emotion: str
    """The emotion the line is spoken with: named, or chosen from the file name."""
    speed: float = 1.0
    language: str | None = None
    takes: int | None = None
    """Takes of this line (best of N); None: the job's number."""


@dataclass(frozen=True)
class ScriptRules:
    library: VoiceLibrary
    max_lines: int
    max_text_chars: int
    max_takes: int = 5


RawRow = tuple[str, Mapping[str, Any]]
"""Where a row is (``row 3`` or ``lines[2]``) and its cells by column name."""


def rows_from_json(body: Any) -> list[RawRow]:
    if not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        raise InvalidRequest("the body must be a JSON object with a 'lines' list")
    rows: list[RawRow] = []
    for i, item in enumerate(body["lines"]):
        if not isinstance(item, dict):
            raise InvalidRequest(f"lines[{i}] must be an object")
        rows.append((f"lines[{i}]", item))
    return rows


def rows_from_table(data: bytes, max_lines: int) -> list[RawRow]:
    """The rows of a CSV or TSV script (UTF-8, header row first)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"the script is not UTF-8 text (bad byte at offset {exc.start}); "
            "save it as UTF-8 CSV") from exc
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter="\t" if "\t" in first else ",")
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidRequest("the script is empty")
        columns = [name.strip().lower() for name in header]
        for name in REQUIRED_COLUMNS:
            if name not in columns:
                raise InvalidRequest(f"row 1: column '{name}' is missing from the header "
                                     f"(found: {', '.join(columns) or 'nothing'})")
        rows: list[RawRow] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= max_lines:
                raise InvalidRequest(f"the script has more than {max_lines} lines, "
                                     "the most one job may hold; split it into jobs")
            where = f"row {reader.line_num}"
            if len(cells) > len(columns):
                raise InvalidRequest(f"{where}: {len(cells)} cells but the header names "
                                     f"{len(columns)} columns")
            rows.append((where, dict(zip(columns, cells, strict=False))))
    except csv.Error as exc:
        raise InvalidRequest(f"row {reader.line_num}: the script is not valid CSV "
                             f"({exc})") from exc
    return rows


def check_script(rows: Iterable[RawRow], rules: ScriptRules,
                 default_group: str | None = None) -> list[ScriptLine]:
    """Every row checked, or InvalidRequest for the first bad one."""
    lines: list[ScriptLine] = []
    seen_files: dict[tuple[str, str], str] = {}
    seen_ids: dict[str, str] = {}
    for where, cells in rows:
        if len(lines) >= rules.max_lines:
            raise InvalidRequest(f"the script has more than {rules.max_lines} lines, "
                                 "the most one job may hold; split it into jobs")
        line = _check_row(where, cells, rules, default_group, len(lines))
        file_key = (line.voice_group_id, line.filename.casefold())
        if file_key in seen_files:
            raise InvalidRequest(f"{_at(where, 'filename')}: '{line.filename}' is already "
                                 f"used in {seen_files[file_key]} for the same voice group")
        if line.line_id in seen_ids:
            raise InvalidRequest(f"{_at(where, 'line_id')}: '{line.line_id}' is already "
                                 f"used in {seen_ids[line.line_id]}")
        seen_files[file_key] = where
        seen_ids[line.line_id] = where
        lines.append(line)
    if not lines:
        raise InvalidRequest("the script has no lines")
    return lines


def _at(where: str, column: str) -> str:
    return f"{where}.{column}" if where.startswith("lines[") else f"{where}, column '{column}'"


def _cell(where: str, cells: Mapping[str, Any], column: str) -> str | None:
    value = cells.get(column)
    if value is None:
        return None
    if not isinstance(value, str):
        if column in ("speed", "takes") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            return str(value)
        raise InvalidRequest(f"{_at(where, column)}: must be a string")
    if value.startswith(FORMULA_STARTS) and column not in ("speed", "takes"):
        raise InvalidRequest(f"{_at(where, column)}: starts with {value[:1]!r}, which "
                             "spreadsheet apps run as a formula; remove that character")
    value = value.strip()
    return value or None


def _check_row(where: str, cells: Mapping[str, Any], rules: ScriptRules,
               default_group: str | None, position: int) -> ScriptLine:
    def problem(column: str, message: str) -> InvalidRequest:
        return InvalidRequest(f"{_at(where, column)}: {message}")

    text = _cell(where, cells, "text")
    if text is None:
        raise problem("text", "must not be empty")
    if len(text) > rules.max_text_chars:
        raise problem("text", f"is {len(text)} characters; the limit is "
                      f"{rules.max_text_chars}")
    try:
        filename = check_filename(_cell(where, cells, "filename") or "")
    except InvalidRequest as exc:
        raise problem("filename", exc.message) from exc
    group = _cell(where, cells, "voice_group_id") or default_group
    if not group:
        raise problem("voice_group_id", "no voice group: give one in the row or as the "
                      "job's voice_group_id")
    try:
        manifest = rules.library.manifest(group)
    except VoiceGroupNotFound as exc:
        raise problem("voice_group_id", exc.message) from exc
    asked = _cell(where, cells, "emotion")
    if asked:
        emotion = find_emotion(asked, manifest.emotions)
        if emotion is None:
            raise problem("emotion", f"'{asked[:64]}' is not an emotion of '{group}' "
                          f"(it has {', '.join(manifest.emotions)})")
    else:
        emotion = select_emotion(filename, manifest.keyword_rules(), manifest.default_emotion)
    speed_cell = _cell(where, cells, "speed")
    try:
        speed = float(speed_cell) if speed_cell else 1.0
    except ValueError as exc:
        raise problem("speed", f"'{speed_cell[:32] if speed_cell else ''}' is not a "
                      "number") from exc
    if not 0.5 <= speed <= 2.0:
        raise problem("speed", "must be between 0.5 and 2.0")
    language = _cell(where, cells, "language")
    if language and not _LANGUAGE.match(language):
        raise problem("language", "must be a language code such as 'en', 'zh' or 'ja'")
    line_id = _cell(where, cells, "line_id") or str(position + 1)
    if not _LINE_ID.match(line_id):
        raise problem("line_id", "letters, digits, '_', '.' and '-' only, at most 64")
    takes_cell = _cell(where, cells, "takes")
    takes = None
    if takes_cell:
        try:
            takes = int(takes_cell)
        except ValueError:
            takes = 0
        if not 1 <= takes <= rules.max_takes:
            raise problem("takes", f"must be a whole number from 1 to {rules.max_takes}")
    return ScriptLine(line_id=line_id, filename=filename, text=text, voice_group_id=group,
                      emotion=emotion, speed=speed, language=language, takes=takes)

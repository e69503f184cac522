"""``breathvoice voices`` and ``breathvoice keys``: voice groups and API keys in the data folder.

These work on the data folder directly, without a server. What every command on the data
folder shares (the ``--data-dir`` option, settings, the spinner, the error exit) is here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from breathvoice.errors import BreathVoiceError
from breathvoice.settings import Settings

if TYPE_CHECKING:
    from breathvoice.matching.jobs import EnrolmentJobs

voices = typer.Typer(help="Manage voice groups in the data folder.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys (stored hashed in the data folder).",
                   no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(help="data folder (default BREATHVOICE_DATA_DIR)")]


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=err_console, transient=True)


def fail(exc: BreathVoiceError) -> None:
    err_console.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(code=1)


def _library(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from breathvoice.engines.registry import load_engine
    from breathvoice.voices.library import VoiceLibrary

    settings = settings_for(data_dir)
    with spinner() as progress:
        progress.add_task("loading the engine", total=None)
        engine = load_engine(settings)
    settings.voices_dir.mkdir(parents=True, exist_ok=True)
    return settings, engine, VoiceLibrary(settings.voices_dir, engine)


@voices.command("list")
def voices_list(data_dir: DataDir = None) -> None:
    """List voice groups with their status and emotions."""
    from breathvoice.voices.library import VoiceLibrary

    settings = settings_for(data_dir)
    library = VoiceLibrary(settings.voices_dir, None)  # type: ignore[arg-type]
    table = Table("voice group", "status", "emotions")
    for group_id in library.list_ids():
        details = library.details(group_id)
        table.add_row(group_id, details["status"], ", ".join(details["available_emotions"]))
    console.print(table)


@voices.command("import")
def voices_import(
    zip_path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    voice_group: Annotated[str | None, typer.Option("--voice-group", "-g")] = None,
    overwrite: bool = False,
    no_wait: Annotated[bool, typer.Option(
        "--no-wait", help="do not wait for voice matching; the server does it when it starts"
    )] = False,
    data_dir: DataDir = None,
) -> None:
    """Import a zip of <Group>_<emotion>.wav clips (group id defaults to the zip's name).

    The group is usable at once (nearest stock voices); then its voice is matched to the
    clips, with a progress bar, unless --no-wait (or BREATHVOICE_ENROLMENT=off).
    """
    from breathvoice.matching.jobs import enrolment_jobs_for
    from breathvoice.voices.importer import import_voice_group_zip

    settings, engine, library = _library(data_dir)
    jobs = enrolment_jobs_for(library, engine, settings)
    group_id = voice_group or zip_path.stem
    try:
        with spinner() as progress:
            progress.add_task(f"importing {group_id}", total=None)
            result = import_voice_group_zip(zip_path.read_bytes(), group_id, overwrite,
                                            library=library, engine=engine, settings=settings)
    except BreathVoiceError as exc:
        fail(exc)
    console.print(f"{result.voice_group_id}: {', '.join(result.extracted_files)}")
    if jobs is None or result.enrolment != "enrolling":
        return
    if no_wait:
        jobs.close()
        console.print("voice matching: pending; the server does it when it starts")
        return
    jobs.start(resume=False)
    _wait_for_enrolment(jobs, group_id)


def _wait_for_enrolment(jobs: EnrolmentJobs, group_id: str) -> None:
    """A progress bar until the group is matched; Ctrl-C leaves it to the server."""
    columns = (TextColumn("matching the voice"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("matching", total=1.0)
            while not jobs.wait(group_id, timeout=0.2):
                bar.update(task, completed=jobs.progress(group_id) or 0.0)
    except KeyboardInterrupt:
        jobs.close()
        console.print("voice matching: interrupted; the server resumes it when it starts")
        raise typer.Exit(code=130) from None
    jobs.close()
    state = jobs.library.details(group_id)["enrolment"]
    similarity = state["similarity"]
    shown = f", speaker similarity {similarity:.2f}" if similarity is not None else ""
    console.print(f"voice matching: {state['status']} ({state['method']}{shown})")


@voices.command("export")
def voices_export(
    voice_group: Annotated[str, typer.Argument()],
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a voice group as a zip that ``voices import`` accepts."""
    from breathvoice.voices.library import VoiceLibrary

    settings = settings_for(data_dir)
    library = VoiceLibrary(settings.voices_dir, None)  # type: ignore[arg-type]
    target = output or Path(f"{voice_group}.zip")
    try:
        target.write_bytes(library.export_zip(voice_group))
    except BreathVoiceError as exc:
        fail(exc)
    console.print(f"{target}")

def _key_store(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from breathvoice.keys import KeyStore

    return KeyStore.open(settings_for(data_dir))


@keys.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="admin or synthesize")] = "synthesize",
    name: Annotated[str, typer.Option(help="a label for people")] = "",
    quota: Annotated[int | None, typer.Option(help="character quota (default: none)")] = None,
    max_concurrent: Annotated[int | None, typer.Option(
        help="requests (or generating contexts) at once (default: no limit)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print it; it is shown only this once."""
    store = _key_store(data_dir)
    try:
        secret, record = store.create(scope, name=name, char_quota=quota,
                                      max_concurrent=max_concurrent)
    except BreathVoiceError as exc:
        fail(exc)
    finally:
        store.close()
    err_console.print(f"key {record.id} ({record.scope}) created; store it now, it is not "
                      "shown again:")
    console.print(secret)


@keys.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
    data_dir: DataDir = None,
) -> None:
    """List keys: id, scope, usage, limits (never the keys themselves)."""
    import datetime

    store = _key_store(data_dir)
    table = Table("id", "name", "starts with", "scope", "chars used", "quota", "max concurrent",
                  "created", "revoked")
    for record in store.list(include_revoked=all_keys):
        created = datetime.datetime.fromtimestamp(record.created_at).isoformat(timespec="seconds")
        table.add_row(record.id, record.name, record.shown_prefix + "…", record.scope,
                      str(record.chars_used), _or_dash(record.char_quota),
                      _or_dash(record.max_concurrent), created,
                      "yes" if record.revoked_at is not None else "")
    store.close()
    console.print(table)


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the id shown by `keys list`")],
                data_dir: DataDir = None) -> None:
    """Revoke a key: the next request with it is refused."""
    store = _key_store(data_dir)
    try:
        store.revoke(key_id)
    except BreathVoiceError as exc:
        fail(exc)
    finally:
        store.close()
    console.print(f"revoked {key_id}")


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)

"""``breathvoice jobs``: script jobs on a running server, through the REST client.

``submit script.csv --voice-group G --wait`` queues a script and shows a progress bar with
its ETA; Ctrl-C leaves the job running (``breathvoice jobs wait JOB_ID`` picks it up again).
The server is ``--url`` (default ``BREATHVOICE_URL``, then ``http://127.0.0.1:8000``) and
the key ``--api-key`` (default ``BREATHVOICE_API_KEY``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

from multi_ws_tts_sdk import BreathVOICEClient
from multi_ws_tts_sdk.rest_errors import BreathVOICEError

jobs = typer.Typer(help="Script jobs on a running server: submit, follow, download.",
                   no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)
PAGE = 500
Url = Annotated[str | None, typer.Option(help="server (default BREATHVOICE_URL)")]
ApiKey = Annotated[str | None, typer.Option(help="key (default BREATHVOICE_API_KEY)")]


def _client(url: str | None, api_key: str | None) -> BreathVOICEClient:
    return BreathVOICEClient(url, api_key)


def _call(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except BreathVOICEError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None


def _eta(job: dict[str, Any]) -> str:
    eta = job.get("eta_seconds")
    return "" if eta is None else f"ETA {int(eta) // 60}:{int(eta) % 60:02d}"


def _follow(client: BreathVOICEClient, job_id: str) -> dict[str, Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]} {task.fields[eta]}"))
    try:
        with Progress(*columns, console=err_console) as bar:
            task = bar.add_task(job_id[:12], total=None, status="", eta="")

            def show(job: dict[str, Any]) -> None:
                counts = job["request_counts"]
                ended = counts["completed"] + counts["failed"] + counts["cancelled"]
                bar.update(task, total=counts["total"], completed=ended,
                           status=job["status"], eta=_eta(job))

            job: dict[str, Any] = _call(client.wait_job, job_id, progress=show,
                                        poll_interval=0.5)
    except KeyboardInterrupt:
        err_console.print(f"stopped following; the job goes on. Resume with: "
                          f"breathvoice jobs wait {job_id}")
        raise typer.Exit(code=130) from None
    counts = job["request_counts"]
    console.print(f"{job_id}: {job['status']}, {counts['completed']} made, "
                  f"{counts['failed']} failed, {counts['cancelled']} cancelled")
    return job


@jobs.command("submit")
def submit(
    script: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                           help="CSV/TSV: filename,text[,voice_group_id,...]")],
    voice_group: Annotated[str | None, typer.Option("--voice-group", "-g")] = None,
    name: Annotated[str | None, typer.Option(help="job name (default: the file name)")] = None,
    takes: Annotated[int, typer.Option(min=1, help="takes per line; the best is kept")] = 1,
    loudness: Annotated[str | None, typer.Option(
        help="podcast, game, broadcast or '{\"target_lufs\": -16, \"true_peak_db\": -1}'",
    )] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow it to the end")] = False,
    url: Url = None, api_key: ApiKey = None,
) -> None:
    """Queue a whole script; prints the job id."""
    client = _client(url, api_key)
    job = _call(client.submit_job, script, voice_group, name=name, takes=takes,
                loudness=loudness)
    console.print(job["job_id"])
    if wait:
        _follow(client, job["job_id"])


@jobs.command("wait")
def wait_(job_id: str, url: Url = None, api_key: ApiKey = None) -> None:
    """Follow a job until it ends (again, after an interruption)."""
    _follow(_client(url, api_key), job_id)


def _problems(client: BreathVOICEClient, job_id: str) -> list[dict[str, Any]]:
    """Lines that failed to render, or whose chosen take failed its check."""
    found, offset = [], 0
    while True:
        page = _call(client.get_job_lines, job_id, offset, PAGE)
        for line in page["lines"]:
            chosen = next((t for t in line["takes"] if t["take"] == line["chosen_take"]), None)
            qa = chosen.get("qa") if chosen else None
            if line["status"] == "failed" or (qa and qa["verdict"] == "fail"):
                found.append({**line, "qa": qa})
        offset += len(page["lines"])
        if not page["lines"] or offset >= page["total"]:
            return found


@jobs.command("status")
def status(job_id: str, url: Url = None, api_key: ApiKey = None) -> None:
    """A job's state as JSON, then the lines that failed (to render, or their check)."""
    client = _client(url, api_key)
    console.print_json(data=_call(client.get_job, job_id))
    failed = _problems(client, job_id)
    if not failed:
        return
    table = Table("line", "file", "problem", title=f"{len(failed)} lines failed",
                  show_lines=False)
    for line in failed:
        problem = (f"not rendered: {line.get('error') or 'failed'}" if line["status"] == "failed"
                   else f"take {line['chosen_take']} failed its check: "
                        + "; ".join(line["qa"]["reasons"][:3]))
        table.add_row(line["line_id"], line["filename"], problem)
    console.print(table)


@jobs.command("list")
def list_(url: Url = None, api_key: ApiKey = None) -> None:
    """The jobs of this key."""
    table = Table("name", "status", "done", "total")
    table.columns.insert(0, Column("job", no_wrap=True, min_width=32))
    for job in _call(_client(url, api_key).list_jobs)["jobs"]:
        counts = job["request_counts"]
        table.add_row(job["job_id"], job["name"], job["status"], str(counts["completed"]),
                      str(counts["total"]))
    console.print(table)


@jobs.command("cancel")
def cancel(job_id: str, url: Url = None, api_key: ApiKey = None) -> None:
    """Cancel the lines not yet started; finished lines stay."""
    job = _call(_client(url, api_key).cancel_job, job_id)
    console.print(f"{job_id}: {job['status']}")


@jobs.command("download")
def download(job_id: str,
             output: Annotated[Path, typer.Option("--output", "-o")] = Path("pack.zip"),
             url: Url = None, api_key: ApiKey = None) -> None:
    """Save the voice pack (chosen takes, manifest.json, report.csv) as a zip."""
    data = _call(_client(url, api_key).download_job, job_id, output)
    console.print(f"{output} ({len(data)} bytes)")

"""The ``breathvoice`` command: serve, say, qa, voices list|import|export, keys, jobs.

``voices`` and ``keys`` are :mod:`breathvoice.cli_data`, ``jobs`` :mod:`breathvoice.cli_jobs`,
``serve`` :mod:`breathvoice.cli_serve`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from breathvoice.cli_data import (
    DataDir,
    console,
    err_console,
    fail,
    keys,
    settings_for,
    spinner,
    voices,
)
from breathvoice.cli_jobs import jobs
from breathvoice.cli_serve import serve
from breathvoice.errors import BreathVoiceError
from breathvoice.settings import Settings

app = typer.Typer(help="BreathVOICE: a self-hosted voice service.", no_args_is_help=True)
app.add_typer(voices, name="voices")
app.add_typer(keys, name="keys")
app.add_typer(jobs, name="jobs")
app.command()(serve)


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="what to say")],
    voice_group: Annotated[str, typer.Option("--voice-group", "-g")] = "Demo",
    emotion: Annotated[str | None, typer.Option(help="emotion of the group")] = None,
    filename: Annotated[str | None, typer.Option(help="pick the emotion from this name")] = None,
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out.wav"),
    speed: float = 1.0,
    data_dir: DataDir = None,
) -> None:
    """Speak TEXT in a voice group's voice into an audio file."""
    from breathvoice.app import build_services
    from breathvoice.audio.files import encode_file
    from breathvoice.engines.base import AudioChunk, SynthesisOptions

    settings = settings_for(data_dir, engine_workers=1)
    with spinner() as progress:
        progress.add_task("loading the engine", total=None)
        services = build_services(settings, enrolment=False)
    try:
        choice = services.library.choose(voice_group, filename=filename or output.name,
                                         emotion=emotion)

        async def run() -> list[AudioChunk]:
            chunks: list[AudioChunk] = []
            with Progress(TextColumn("speaking"), BarColumn(), TimeElapsedColumn(),
                          console=err_console, transient=True) as bar:
                task = bar.add_task("speaking", total=len(text))
                async for chunk in services.scheduler.stream(
                        "cli", text, choice.voice_state, SynthesisOptions(speed=speed)):
                    chunks.append(chunk)
                    bar.advance(task, len(chunk.text) or 1)
            return chunks

        import numpy as np

        chunks = asyncio.run(run())
        samples = np.concatenate([c.samples for c in chunks])
        rate = services.engine.sample_rate
        output.write_bytes(encode_file(samples, rate, output.name))
        console.print(f"{output}: {len(samples) / rate:.2f} s, emotion {choice.emotion} "
                      f"({choice.reference_file})")
    except BreathVoiceError as exc:
        fail(exc)
    finally:
        services.scheduler.close()


@app.command()
def qa(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="the take: wav, flac, ogg, mp3, m4a, ...")],
    text: Annotated[str, typer.Option(help="the script the take should say")],
    language: Annotated[str | None, typer.Option(help="zh, en or ja (default: guessed)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check FILE against its script: what was said, audio faults, loudness, a verdict.

    Exits with status 3 when the verdict is 'fail'."""
    import json

    from breathvoice.audio.decode import decode_audio
    from breathvoice.qa import check_take
    from breathvoice.qa.recognise import make_recogniser

    recogniser = make_recogniser(Settings())
    try:
        samples, rate = decode_audio(file)
        with spinner() as progress:
            progress.add_task("listening", total=None)
            report = check_take(samples, rate, text, language, recogniser)
    except BreathVoiceError as exc:
        fail(exc)
    finally:
        recogniser.close()
    console.print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if as_json
                  else "\n".join(report.summary()), markup=False, highlight=False)
    if report.verdict == "fail":
        raise typer.Exit(code=3)


def main() -> None:
    app()

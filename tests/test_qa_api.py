"""``POST /breathvoice/qa`` and ``breathvoice qa``: bad uploads are refused; a real rendered
line passes against its own text and fails against another, in Chinese and English."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from breathvoice.cli import app as cli_app
from breathvoice.engines.base import SynthesisOptions
from breathvoice.engines.kokoro.engine import KokoroEngine
from conftest import AppFactory
from engine_fixture import kokoro_engine  # noqa: F401  (fixture)

QA = "/breathvoice/qa"
LINES = {
    "zh": ("火车晚点了半个小时，大家都在站台上等。", "我弟弟最喜欢的运动是游泳和跑步。"),
    "en": ("Please close the window before you leave the room.",
           "The market sells the sweetest peaches in town."),
}


def wav_bytes(samples: np.ndarray, rate: int = 24000) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def post(client, data: bytes, text: str, language: str | None = None,  # type: ignore[no-untyped-def]
         headers: dict[str, str] | None = None):
    form = {"text": text} if language is None else {"text": text, "language": language}
    return client.post(QA, files={"file": ("take.wav", data, "audio/wav")}, data=form,
                       headers=headers or {})


def assert_error(response, status: int, words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and words in body["error"]
    assert "/" not in body["error"].replace("wav/", "")  # no server paths


def test_bad_uploads_are_refused_in_the_seed_shape(app: AppFactory) -> None:
    tone = wav_bytes(np.sin(np.arange(24000) / 10).astype(np.float32) * 0.3)
    with app(max_text_chars=50, max_qa_upload_bytes=400_000, max_qa_seconds=5) as client:
        assert_error(post(client, b"not audio at all", "hello"), 400, "decode")
        assert_error(post(client, tone, "   "), 400, "text must not be empty")
        assert_error(post(client, tone, "!!!"), 400, "nothing to say")
        assert_error(post(client, tone, "x" * 51), 400, "limit is 50")
        assert_error(post(client, tone, "hello", language="xx"), 400, "language must be")
        assert_error(post(client, wav_bytes(np.zeros(24000 * 6, np.float32)), "hello"),
                     400, "longer than 5 seconds")
        too_big = wav_bytes(np.zeros(24000 * 4, np.float32)) + b"\0" * 250_000
        assert_error(post(client, too_big, "hello"), 413, "upload is larger than")
        missing = client.post(QA, data={"text": "hello"})
        assert_error(missing, 400, "file")


def test_a_key_is_needed_when_keys_are_configured(app: AppFactory) -> None:
    key = "qa-test-key-0123456789"
    tone = wav_bytes(np.zeros(2400, np.float32))
    with app(api_keys=[key]) as client:
        assert post(client, tone, "hello").status_code == 401
        assert_error(post(client, tone, "", headers={"xi-api-key": key}), 400, "text")


@pytest.fixture(scope="module")
def rendered(kokoro_engine: KokoroEngine) -> dict[str, bytes]:  # noqa: F811
    """One real line per language, as WAV files."""
    takes = {}
    for language, (text, _) in LINES.items():
        chunks = kokoro_engine.synthesize(text, kokoro_engine.default_voice(),
                                          SynthesisOptions(language=language))
        takes[language] = wav_bytes(np.concatenate([c.samples for c in chunks]),
                                    kokoro_engine.sample_rate)
    return takes


@pytest.mark.slow
def test_a_real_line_passes_its_own_text_and_fails_another(
        app: AppFactory, rendered: dict[str, bytes]) -> None:
    with app() as client:
        for language, (text, other) in LINES.items():
            right = post(client, rendered[language], text)
            assert right.status_code == 200, right.text
            report = right.json()
            assert report["verdict"] == "ok", report
            assert report["language"] == language
            assert report["metric"] == ("wer" if language == "en" else "cer")
            assert report["error_rate"] < 0.2 and report["reasons"] == []
            assert -30 < report["loudness"]["integrated_lufs"] < -10
            assert report["loudness"]["true_peak_db"] < 0

            wrong = post(client, rendered[language], other, language=language).json()
            assert wrong["verdict"] == "fail", wrong
            assert wrong["error_rate"] > 0.5
            assert "does not match the script" in wrong["reasons"][0]
            assert wrong["heard"] == report["heard"]


@pytest.mark.slow
def test_the_command_line_prints_the_verdict(rendered: dict[str, bytes],
                                             tmp_path: Path) -> None:
    take = tmp_path / "take.wav"
    take.write_bytes(rendered["en"])
    runner = CliRunner()
    right = runner.invoke(cli_app, ["qa", str(take), "--text", LINES["en"][0]])
    assert right.exit_code == 0, right.output
    assert right.output.strip().startswith("OK")
    wrong = runner.invoke(cli_app, ["qa", str(take), "--text", LINES["en"][1], "--json"])
    assert wrong.exit_code == 3, wrong.output
    assert '"verdict": "fail"' in wrong.output

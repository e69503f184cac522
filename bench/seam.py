"""The seam of a short first chunk: does the cut sentence sound like the uncut one?

For sentences a stream cuts early (with and without punctuation, English and Chinese),
speaks each twice with the default voice: whole (one model call) and as a stream does
(the short first chunk, then the rest). Prints, per sentence:

  - where the cut fell and the first chunk's audio length;
  - what the speech recogniser (the take checker's Whisper base) hears in each version,
    as word (en) or character (zh) error rate against the text: a seam that swallows or
    garbles a word shows up here;
  - the pitch step across the seam: median F0 (pYIN) of the last 150 ms of voiced speech
    before the cut and the first 150 ms after, in semitones, for the cut version and for
    the same text position in the uncut version;
  - the cut version's length over the uncut one's.

Bounded in time: pitch is tracked on 0.6 s each side of the seam only (pYIN over a whole
sentence took minutes on a loaded machine), the recogniser runs at normal priority (the
server runs it niced, which starved the Chinese part of an earlier run), and sentences
after ``BENCH_SEAM_SECONDS`` (default 300) are skipped, and said so.

    .venv/bin/python bench/seam.py
"""

from __future__ import annotations

import os
import statistics
import time

import librosa
import numpy as np

from breathvoice.engines.base import AudioChunk, SynthesisOptions
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.qa.recognise import Recogniser
from breathvoice.qa.score import score

SENTENCES = [
    ("en", "Thank you for calling our support line today I can check the status of your "
           "order or change your delivery address right away."),
    ("en", "Honestly I never thought the old lighthouse keeper would actually remember "
           "my name after all these years."),
    ("en", "Hello there my friend, how are you doing on this fine and sunny morning?"),
    ("zh", "我可以帮您查询订单的最新状态和修改收货地址或者马上为您转接账单部门的同事。"),
    ("zh", "您好，感谢您的来电，我可以帮您查询订单的最新状态。"),
]
WINDOW = 0.15
PITCH_SPAN = 0.6
"""Seconds of audio each side of the seam that pitch is tracked on."""
BUDGET = float(os.environ.get("BENCH_SEAM_SECONDS", "300"))


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([chunk.samples for chunk in chunks])


def time_of(chunks: list[AudioChunk], char_index: int) -> float:
    """When the character at ``char_index`` of the whole text starts (seconds)."""
    offset_s, offset_c = 0.0, 0
    for chunk in chunks:
        if char_index < offset_c + len(chunk.text):
            assert chunk.alignment is not None
            return offset_s + chunk.alignment.char_start_times_ms[char_index - offset_c] / 1000
        offset_s += chunk.duration
        offset_c += len(chunk.text)
    return offset_s


def pitch_step(audio: np.ndarray, rate: int, at: float) -> float:
    """Semitones between median F0 just before ``at`` and just after (voiced frames)."""
    first = max(0, int((at - PITCH_SPAN) * rate))
    piece = audio[first:int((at + PITCH_SPAN) * rate)]
    f0, voiced, _ = librosa.pyin(piece, fmin=70, fmax=500, sr=rate, frame_length=1024)
    times = librosa.times_like(f0, sr=rate) + first / rate
    ok = voiced & np.isfinite(f0)
    before = f0[ok & (times < at)][-int(WINDOW * rate / 256):]
    after = f0[ok & (times >= at)][:int(WINDOW * rate / 256)]
    if len(before) == 0 or len(after) == 0:
        return float("nan")
    return float(12 * np.log2(np.median(after) / np.median(before)))


def main() -> None:
    engine = KokoroEngine()
    voice = engine.default_voice()
    recogniser = Recogniser(nice=0)
    rate = engine.sample_rate
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    figures: dict[str, list[tuple[float, float, float, float]]] = {"en": [], "zh": []}
    for number, (language, text) in enumerate(SENTENCES):
        if time.perf_counter() - started > BUDGET:
            print(f"time budget of {BUDGET:.0f} s spent: {len(SENTENCES) - number} sentences"
                  " skipped")
            break
        whole = list(engine.synthesize(text, voice, SynthesisOptions(with_alignment=True)))
        cut = list(engine.synthesize(text, voice, SynthesisOptions(
            early_first_chunk=True, with_alignment=True)))
        at = len(cut[0].text)
        heard = {name: recogniser.transcribe(joined(chunks), rate, language).text
                 for name, chunks in (("whole", whole), ("cut", cut))}
        rates = {name: score(text, said, language).error_rate for name, said in heard.items()}
        step_cut = pitch_step(joined(cut), rate, cut[0].duration)
        step_whole = pitch_step(joined(whole), rate, time_of(whole, at))
        figures[language].append((rates["whole"], rates["cut"], abs(step_cut), abs(step_whole)))
        print(f"{text[:at]!r} | {text[at:at + 24]!r}...")
        print(f"   first chunk {cut[0].duration:.2f} s; error rate whole {rates['whole']:.2f},"
              f" cut {rates['cut']:.2f}; pitch step at the seam {step_cut:+.1f} st"
              f" (uncut, same place {step_whole:+.1f} st); length cut/whole"
              f" {len(joined(cut)) / len(joined(whole)):.2f}")
        if rates["cut"] > rates["whole"]:
            print(f"   heard whole: {heard['whole']}\n   heard cut:   {heard['cut']}")
    done = sum(len(rows) for rows in figures.values())
    print(f"{done} sentences in {time.perf_counter() - started:.0f} s,"
          f" load average at end: {os.getloadavg()[0]:.2f}")
    for language, rows in figures.items():
        if not rows:
            continue
        whole, cut, step_cut, step_whole = (list(column) for column in zip(*rows, strict=True))
        print(f"{language}: mean error rate whole {statistics.mean(whole):.3f},"
              f" cut {statistics.mean(cut):.3f}; median |pitch step| at the seam:"
              f" cut {np.nanmedian(step_cut):.1f} st, uncut at the same place"
              f" {np.nanmedian(step_whole):.1f} st")


if __name__ == "__main__":
    main()

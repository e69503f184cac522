"""Per-character timing of a Kokoro window, from the model's per-token frame counts."""

from __future__ import annotations

import numpy as np

from breathvoice.engines.base import CharAlignment
from breathvoice.engines.kokoro.model import SAMPLE_RATE, IntArray
from breathvoice.engines.kokoro.phoneme_spans import PhonemeSpan


def char_alignment(
    text: str, window: list[PhonemeSpan], edges: IntArray, voiced: int, total: int
) -> CharAlignment:
    """Per-character timing of ``text`` over one window of spans.

    ``edges`` are the sample offsets of the token boundaries (leading pad included),
    already shifted to the trimmed audio. A span's time is spread evenly over its
    characters; spans without phonemes (spaces, unreadable characters) take none; the
    last character runs to the end of the chunk, pause included.
    """
    starts: list[int] = []
    ends: list[int] = []
    token = 0
    cursor = 0
    for span in window:
        count = len(span.phonemes)
        if count:
            begin = int(np.clip(edges[token + 1], cursor, voiced))
            finish = int(np.clip(edges[token + 1 + count], begin, voiced))
            token += count
        else:
            begin = finish = cursor
        width = span.end - span.start
        for index in range(width):
            starts.append(begin + (finish - begin) * index // width)
            ends.append(begin + (finish - begin) * (index + 1) // width)
        cursor = finish
    if ends:
        ends[-1] = total
    start_ms = [round(sample * 1000 / SAMPLE_RATE) for sample in starts]
    end_ms = [round(sample * 1000 / SAMPLE_RATE) for sample in ends]
    return CharAlignment(
        chars=list(text[window[0].start : window[-1].end]),
        char_start_times_ms=start_ms,
        char_durations_ms=[max(0, e - s) for s, e in zip(start_ms, end_ms, strict=True)],
    )

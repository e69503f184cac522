"""When each character of a request's text is spoken, from the engine's per-chunk timing.

Engines time the characters of each chunk from the chunk's start
(:class:`~breathvoice.engines.base.CharAlignment`). A :class:`Timeline` puts the chunks one
after the other and answers in seconds from the start of the whole audio. It also makes the
answer cover the text exactly: characters the engine skipped (spaces between sentences,
punctuation it does not speak) are put in with no duration where they sit, and a chunk
without timing has its characters spread evenly over its audio.
"""

from __future__ import annotations

from dataclasses import dataclass

from breathvoice.engines.base import AudioChunk


@dataclass(frozen=True)
class CharTimes:
    """Characters of the text with when they start and end, in seconds from the start."""

    characters: tuple[str, ...]
    start_seconds: tuple[float, ...]
    end_seconds: tuple[float, ...]

    @classmethod
    def empty(cls) -> CharTimes:
        return cls((), (), ())

    def __add__(self, other: CharTimes) -> CharTimes:
        return CharTimes(self.characters + other.characters,
                         self.start_seconds + other.start_seconds,
                         self.end_seconds + other.end_seconds)


class Timeline:
    """Places the chunks of one text, in order, on the timeline of the whole audio."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._cursor = 0
        """Characters of ``text`` placed so far."""
        self._offset = 0.0
        """Where the next chunk starts, in seconds."""
        self._last_start = 0.0
        self._last_end = 0.0

    def place(self, chunk: AudioChunk) -> CharTimes:
        """The characters of the next chunk (and any skipped before them), timed."""
        chars, starts, ends = self._chunk_times(chunk)
        spoken = "".join(chars)
        found = self._text.find(spoken, self._cursor) if spoken else -1
        placed = _Builder()
        if found >= 0:
            self._skip_to(found, placed)
            self._cursor = found + len(spoken)
        for char, start, end in zip(chars, starts, ends, strict=True):
            self._add(placed, char, start, end)
        self._offset += chunk.duration
        return placed.times()

    def rest(self) -> CharTimes:
        """The characters after the last chunk's, at the end of the audio."""
        placed = _Builder()
        self._skip_to(len(self._text), placed)
        return placed.times()

    def _chunk_times(self, chunk: AudioChunk) -> tuple[list[str], list[float], list[float]]:
        alignment = chunk.alignment
        if alignment is not None and alignment.chars:
            starts = [self._offset + ms / 1000 for ms in alignment.char_start_times_ms]
            ends = [start + ms / 1000
                    for start, ms in zip(starts, alignment.char_durations_ms, strict=True)]
            return list(alignment.chars), starts, ends
        chars = list(chunk.text)
        step = chunk.duration / len(chars) if chars else 0.0
        starts = [self._offset + index * step for index in range(len(chars))]
        return chars, starts, [start + step for start in starts]

    def _skip_to(self, until: int, placed: _Builder) -> None:
        """Add ``text[cursor:until]``, which no chunk spoke, with no duration."""
        for char in self._text[self._cursor:until]:
            self._add(placed, char, self._last_end, self._last_end)
        self._cursor = max(self._cursor, until)

    def _add(self, placed: _Builder, char: str, start: float, end: float) -> None:
        start = max(start, self._last_start)  # never back in time
        end = max(end, start)
        self._last_start, self._last_end = start, end
        placed.add(char, start, end)


class _Builder:
    def __init__(self) -> None:
        self.characters: list[str] = []
        self.starts: list[float] = []
        self.ends: list[float] = []

    def add(self, char: str, start: float, end: float) -> None:
        self.characters.append(char)
        self.starts.append(round(start, 3))
        self.ends.append(round(end, 3))

    def times(self) -> CharTimes:
        return CharTimes(tuple(self.characters), tuple(self.starts), tuple(self.ends))

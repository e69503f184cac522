"""Best of N: how each take of a line differs, and which take wins.

The embedded engine is deterministic: the same text, voice and speed always give the same
audio, so a second take spoken the same way would be a copy. Take ``k`` of a line is
spoken with its own :class:`Variant`: a speaking speed within ±4 % of the line's, and on
every second take the first chunk cut at its earliest clause boundary (the text is split
at another point, which changes the phrasing of lines that have a comma or a full stop).

The best take is the one with the best QA verdict (``ok`` before ``warn`` before
``fail``); between equals, the lower error rate; then the earlier take.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from breathvoice.engines.base import SynthesisOptions

__all__ = ["SPEED_STEPS", "Variant", "best_take", "take_variant"]

SPEED_STEPS = (1.0, 0.96, 1.04, 0.98, 1.02, 0.97, 1.03, 0.99, 1.01)
"""Speed factor of take 1, 2, 3, ... (then again from the second, with the other split)."""
MIN_SPEED, MAX_SPEED = 0.5, 2.0
_RANK = {"ok": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Variant:
    speed_factor: float
    early_split: bool
    """Cut the first chunk at the earliest clause boundary."""

    def options(self, speed: float, language: str | None) -> SynthesisOptions:
        scaled = min(MAX_SPEED, max(MIN_SPEED, speed * self.speed_factor))
        return SynthesisOptions(speed=round(scaled, 4), language=language,
                                early_first_chunk=self.early_split)

    def as_json(self) -> dict[str, Any]:
        return {"speed_factor": self.speed_factor,
                "split": "early" if self.early_split else "normal"}


def take_variant(take: int) -> Variant:
    """How take number ``take`` (1-based) is spoken; take 1 is the line as written."""
    if take <= 1:
        return Variant(1.0, False)
    index, steps = take - 2, len(SPEED_STEPS) - 1
    early = (index % 2 == 0) != ((index // steps) % 2 == 1)  # 16 different, then again
    return Variant(SPEED_STEPS[1 + index % steps], early)


def rank(verdict: str | None, error_rate: float | None, take: int) -> tuple[int, float, int]:
    """Sort key of a take: better verdict, then lower error rate, then earlier."""
    return (_RANK.get(verdict or "fail", 2),
            1.0e9 if error_rate is None else error_rate, take)


def best_take(takes: Iterable[tuple[int, str | None, float | None]]) -> int | None:
    """The number of the best of ``(take, verdict, error_rate)``; None if there are none."""
    ranked = sorted(takes, key=lambda t: rank(t[1], t[2], t[0]))
    return ranked[0][0] if ranked else None

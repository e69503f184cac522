"""The QA report of one take, and the rules that turn findings into a verdict.

A verdict is ``ok``, ``warn`` or ``fail``; it is the worst of what was found. The reasons
say why in words a creator reads, in the order they matter: what was said wrong first,
then the audio faults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from breathvoice.qa.detectors import FAIL, WARN, Fault
from breathvoice.qa.loudness import Loudness
from breathvoice.qa.score import Score

__all__ = ["OK", "QAReport", "Thresholds", "verdict_of"]

OK = "ok"
_RANK = {OK: 0, WARN: 1, FAIL: 2}
_SHOWN_DIFFERENCES = 3


@dataclass(frozen=True)
class Thresholds:
    """Error rates (CER for zh and ja, WER for en) that make a take a warning or a failure.

    Chosen from ``bench/qa.py`` (40 lines by the embedded engine): Whisper base hears the
    engine's Chinese (its voices are Japanese) at a mean CER of about 0.15 once homophones
    count as the same character (0.24 when they did not), and English at a mean WER of
    0.08; a line checked against another sentence of similar length scores 0.87 or more.
    The failure threshold sits in that gap; takes between the two thresholds deserve a
    listen.
    """

    warn_cer: float = 0.5
    fail_cer: float = 0.75
    warn_wer: float = 0.55
    fail_wer: float = 0.75

    def severity(self, score: Score) -> str:
        warn, fail = ((self.warn_wer, self.fail_wer) if score.metric == "wer"
                      else (self.warn_cer, self.fail_cer))
        if score.error_rate >= fail:
            return FAIL
        return WARN if score.error_rate >= warn else OK


@dataclass(frozen=True)
class QAReport:
    verdict: str
    """'ok', 'warn' or 'fail'"""
    reasons: list[str]
    """Why the verdict is not 'ok', worst first; empty when it is."""
    language: str
    text: str
    """The script the take was checked against."""
    heard: str
    """What the recogniser heard."""
    metric: str
    """'cer' (zh, ja) or 'wer' (en)."""
    error_rate: float
    differences: list[dict[str, str]]
    """Each place speech and script part ways: ``said``, ``expected``, ``description``."""
    faults: list[dict[str, Any]]
    """Audio faults: ``kind``, ``severity``, ``message``, ``at_seconds``."""
    loudness: dict[str, float | None]
    """``integrated_lufs`` (BS.1770), ``sample_peak_db``, ``true_peak_db``."""
    duration_seconds: float
    check_seconds: float = field(default=0.0, compare=False)
    """Time the check took."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> list[str]:
        """The report as a few lines of plain text, verdict first."""
        loud = self.loudness
        lufs = "-" if loud["integrated_lufs"] is None else f"{loud['integrated_lufs']:.1f}"
        return [
            f"{self.verdict.upper()}",
            *(f"  - {reason}" for reason in self.reasons),
            f"heard ({self.language}): {self.heard}",
            f"{self.metric.upper()} {self.error_rate:.1%}; {self.duration_seconds:.2f} s; "
            f"{lufs} LUFS, true peak {loud['true_peak_db']:.1f} dBTP, "
            f"sample peak {loud['sample_peak_db']:.1f} dBFS; "
            f"checked in {self.check_seconds:.2f} s",
        ]


def verdict_of(score: Score, faults: list[Fault], thresholds: Thresholds
               ) -> tuple[str, list[str]]:
    """The verdict and its reasons for a take's ``score`` and audio ``faults``."""
    severity = thresholds.severity(score)
    reasons = []
    if severity != OK:
        unit = "words" if score.metric == "wer" else "characters"
        gist = ("the speech does not match the script" if severity == FAIL
                else "the speech differs from the script")
        reasons.append(f"{gist}: {score.error_rate:.0%} of the {unit} are wrong "
                       f"({score.metric.upper()})")
        shown = score.differences[:_SHOWN_DIFFERENCES]
        reasons += [difference.describe() for difference in shown]
        if len(score.differences) > len(shown):
            reasons.append(f"and {len(score.differences) - len(shown)} more differences")
    ordered = sorted(faults, key=lambda fault: -_RANK[fault.severity])
    reasons += [fault.message for fault in ordered]
    worst = max([severity, *(fault.severity for fault in faults)], key=_RANK.__getitem__)
    return worst, reasons


def loudness_fields(loudness: Loudness) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {"integrated_lufs": rounded(loudness.integrated_lufs),
            "sample_peak_db": rounded(loudness.sample_peak_db),
            "true_peak_db": rounded(loudness.true_peak_db)}

"""Quality checks of takes: what was said, audio faults, loudness, and a verdict.

``check_take(samples, rate, text, language, recogniser) -> QAReport`` is the one entry
point; :mod:`breathvoice.qa.loudness` also brings takes to a delivery loudness.
"""

from breathvoice.qa.check import check_take
from breathvoice.qa.loudness import PRESETS, LoudnessTarget, normalise
from breathvoice.qa.recognise import Recogniser
from breathvoice.qa.report import QAReport, Thresholds

__all__ = ["PRESETS", "LoudnessTarget", "QAReport", "Recogniser", "Thresholds",
           "check_take", "normalise"]

"""The records a ``manifest.json`` is built of, each validated strictly.

A reference clip (:class:`Reference`) and the conditioning synthesis uses for it
(:class:`Conditioning`, saved under ``conditioning/``), the group's voice-matching record
(:class:`EnrolmentRecord`), the pronunciation dictionaries it applies
(:class:`DictionaryRef`) and its keyword rules (:class:`RuleSpec`). The manifest itself,
and reading and writing it, is :mod:`breathvoice.voices.manifest`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from breathvoice.engines.base import VoiceState
from breathvoice.voices.selection import DEFAULT_RULES
from breathvoice.voices.selection import KeywordRule as SelectionRule

CONDITIONING_DIR = "conditioning"
EMOTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# A plain file name: no separators, no control characters, not hidden.
REFERENCE_FILE_PATTERN = r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,127}$"

EnrolmentStatus = Literal["enrolling", "ready", "failed"]
MATCHED_DIR = f"{CONDITIONING_DIR}/matched"
MATCHED_METHODS = frozenset({"matched", "matched_prosody"})
STOCK_METHODS = frozenset({"stock", "nearest_stock"})
EmotionName = Annotated[str, Field(pattern=EMOTION_PATTERN)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(StrictModel):
    keywords: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1)
    emotion: EmotionName

    def to_rule(self) -> SelectionRule:
        return SelectionRule(tuple(self.keywords), self.emotion)


DEFAULT_RULE_SPECS = [RuleSpec(keywords=list(r.keywords), emotion=r.emotion) for r in DEFAULT_RULES]


class Conditioning(StrictModel):
    engine: str
    method: str
    """'cloned' (computed from the clip), 'stock' (a built-in voice), ..."""
    stock_voice: str | None = None
    similarity: float | None = None
    file: Annotated[
        str, Field(pattern=rf"^{CONDITIONING_DIR}/(matched/)?[A-Za-z0-9][A-Za-z0-9_-]*\.npz$")
    ]

    @classmethod
    def from_state(cls, state: VoiceState, file: str) -> Conditioning:
        """Describe ``state`` (saved at ``file``) from the facts its engine recorded."""
        info = state.info
        stock = info.get("stock_voice", info.get("nearest_stock_voice"))
        similarity = info.get("similarity")
        return cls(
            engine=state.engine,
            method=state_method(state),
            stock_voice=stock if isinstance(stock, str) else None,
            similarity=float(similarity) if isinstance(similarity, int | float) else None,
            file=file,
        )


def state_method(state: VoiceState) -> str:
    """The conditioning method ``state``'s engine recorded (``cloned`` when it named none)."""
    return str(state.info.get("method", "cloned"))


def voice_method(method: str) -> str:
    """What a conditioning method means to users: ``stock``, ``matched`` or the engine's own."""
    if method in MATCHED_METHODS:
        return "matched"
    return "stock" if method in STOCK_METHODS else method


class EnrolmentRecord(StrictModel):
    """The voice matching of a group: queued or running, done, or given up."""

    status: EnrolmentStatus = "enrolling"
    engine: str
    """The engine the group is matched for."""
    main_emotion: str | None = None
    """The clip the group's timbre was matched on; the others only move prosody from it."""
    error: str | None = None
    intelligibility: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per emotion, its voice's check: recognition error per language, the stock voice's,
    and how much of the move was kept (see :mod:`breathvoice.matching.guard`)."""


class DictionaryRef(StrictModel):
    """A pronunciation dictionary a group always applies (its latest version when
    ``version_id`` is None)."""

    pronunciation_dictionary_id: Annotated[str, Field(min_length=1, max_length=64)]
    version_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class Reference(StrictModel):
    file: Annotated[str, Field(pattern=REFERENCE_FILE_PATTERN)]
    duration_s: float = Field(gt=0)
    sample_rate: int = Field(gt=0)
    conditioning: Conditioning


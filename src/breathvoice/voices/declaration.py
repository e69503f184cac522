"""The manifest a user may ship inside a voice-group zip: found, size-capped, validated, counted.

It is untrusted input that every later reference selection works through, so it is held to
caps no real character pack reaches (:class:`DeclarationCaps`, from the settings): its size
in bytes before it is parsed, then its emotions, rules and keywords. What is over a cap is
refused by name with :class:`~breathvoice.errors.InvalidRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from breathvoice.errors import InvalidRequest
from breathvoice.settings import Settings
from breathvoice.voices.manifest import GroupDeclaration, describe_validation_error

DECLARATION_NAMES = ("manifest.json", "voice_group.json")


@dataclass(frozen=True)
class DeclarationCaps:
    """How much a shipped manifest may declare."""

    max_bytes: int
    max_emotions: int
    max_rules: int
    max_rule_keywords: int
    """Keywords in any one rule."""
    max_keywords: int
    """Keywords in all rules together."""

    @classmethod
    def from_settings(cls, settings: Settings) -> DeclarationCaps:
        return cls(max_bytes=settings.max_manifest_bytes,
                   max_emotions=settings.max_manifest_emotions,
                   max_rules=settings.max_manifest_rules,
                   max_rule_keywords=settings.max_rule_keywords,
                   max_keywords=settings.max_manifest_keywords)

    def excesses(self, declaration: GroupDeclaration) -> list[str]:
        """What ``declaration`` has over the caps, one phrase each (empty: within them)."""
        found: list[str] = []
        if len(declaration.emotions) > self.max_emotions:
            found.append(f"{len(declaration.emotions)} emotions (at most {self.max_emotions})")
        if len(declaration.rules) > self.max_rules:
            found.append(f"{len(declaration.rules)} rules (at most {self.max_rules})")
        total = sum(len(rule.keywords) for rule in declaration.rules)
        if total > self.max_keywords:
            found.append(f"{total} keywords in all (at most {self.max_keywords})")
        for index, rule in enumerate(declaration.rules):
            if len(rule.keywords) > self.max_rule_keywords:
                found.append(f"rules.{index} has {len(rule.keywords)} keywords "
                             f"(at most {self.max_rule_keywords} per rule)")
        return found


def is_declaration(name: str) -> bool:
    return name.lower() in DECLARATION_NAMES


def read_declaration(files: dict[str, Path], caps: DeclarationCaps) -> GroupDeclaration:
    """The group's own emotions and rules from a shipped manifest, else the defaults.

    The manifest, if any, is taken out of ``files`` (what is left are the clips).
    """
    shipped = [name for name in files if is_declaration(name)]
    if len(shipped) > 1:
        raise InvalidRequest(f"ship one of {' or '.join(DECLARATION_NAMES)}, not both")
    if not shipped:
        return GroupDeclaration()
    name = shipped[0]
    path = files.pop(name)
    if path.stat().st_size > caps.max_bytes:
        raise InvalidRequest(f"{name} is larger than {caps.max_bytes} bytes")
    try:
        declaration = GroupDeclaration.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InvalidRequest(f"{name} is invalid: {describe_validation_error(exc)}") from exc
    excesses = caps.excesses(declaration)
    if excesses:
        shown = "; ".join(excesses[:3]) + ("; ..." if len(excesses) > 3 else "")
        raise InvalidRequest(f"{name} declares too much: {shown}")
    return declaration

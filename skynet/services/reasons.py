"""The reason rule: every use case that reads personal data or changes evidence asks why, and a reason must
say something — at least a few letters or digits, not one character repeated — and, where the admin sets a
case-number pattern (``SKYNET_REASON_CASE_PATTERN``), name a case that matches it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from skynet.config import Settings
from skynet.errors import UnusableInputError

MIN_CHARACTERS = 5
"""Letters and digits a reason needs by default (``case 1`` has five)."""


@dataclass(frozen=True, slots=True)
class ReasonRule:
    """``min_characters`` letters or digits (of two kinds at least); with ``case_pattern`` (a regular
    expression) a match of it somewhere in the reason."""

    min_characters: int = MIN_CHARACTERS
    case_pattern: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReasonRule:
        return cls(settings.reason_min_characters, settings.reason_case_pattern)

    def check(self, reason: str | None) -> str:
        """``reason`` without surrounding white space, or :class:`UnusableInputError` saying what it lacks."""
        text = (reason or "").strip()
        content = [c for c in text if c.isalnum()]
        if len(content) < self.min_characters or len(set(content)) < 2:
            raise UnusableInputError(
                f"a reason needs at least {self.min_characters} letters or digits that say why",
                "give the case or order number, or what the work is for (audited)",
            )
        if self.case_pattern and not re.search(self.case_pattern, text):
            raise UnusableInputError(
                "the reason names no case number in this server's format",
                f"include a case number matching {self.case_pattern}",
            )
        return text

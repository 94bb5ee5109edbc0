"""Plate formats: which kind of plate a text is, whether it is valid, and text normalisation.

Mainland Chinese plates (GA 36-2018) are checked by built-in rules; any other region by
regular expressions from the settings (``plate_region='custom'``, ``plate_patterns``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from string import ascii_uppercase, digits

from skynet.errors import ConfigError
from skynet.records import PlateFormat

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "".join(c for c in ascii_uppercase if c not in "IO")
"""Letters of the serial part of mainland plates: I and O are left out (too like 1 and 0)."""
AUTHORITY_LETTERS = "".join(c for c in ascii_uppercase if c != "I")
"""Letters naming the issuing authority (second character); O marks police/government cars."""
O_AUTHORITY_PRIOR = 0.01
"""Prior probability of a civil plate format with O as the issuing authority against the same format
with another letter: O marks public-security vehicles (today on white 警 plates), no plate of the 898
in the DEV plate sets has it, while the recogniser reads a small Q or D as O (2 of the 148 DEV EasyPR
plates). Such plates stay valid; a read needs about 4.6 nats more evidence to say O there."""
SPECIAL_CHARS = "警学挂使领港澳"
CN_CHARSET = frozenset(digits + ascii_uppercase + PROVINCES + SPECIAL_CHARS)
"""Every character a mainland plate can show (W and J of armed-police plates included)."""
LATIN_CHARSET = frozenset(digits + ascii_uppercase)
STANDARD_COLOURS = ("blue", "yellow")

_SLOTS = {
    "P": frozenset(PROVINCES),
    "A": frozenset(AUTHORITY_LETTERS),
    "C": frozenset(AUTHORITY_LETTERS) - {"O"},
    "X": frozenset(PLATE_LETTERS + digits),
    "D": frozenset(digits),
    "E": frozenset("DF"),
}


@dataclass(frozen=True, slots=True)
class Template:
    """A fixed-length plate format: the characters allowed at each position, and its prior
    probability against the other formats (1 for the usual ones)."""

    kind: str
    slots: tuple[frozenset[str], ...]
    prior: float = 1.0

    @classmethod
    def parse(cls, kind: str, spec: str, prior: float = 1.0) -> Template:
        """From a spec such as ``"PAXXXXX"``: P province, A authority letter (no I), C authority
        letter of civil plates (no I/O), X letter (no I/O) or digit, D digit, E D/F (new-energy);
        any other character stands for itself."""
        return cls(kind, tuple(_SLOTS.get(c, frozenset(c)) for c in spec), prior)

    def matches(self, text: str) -> bool:
        """Whether ``text`` is a plate of this format."""
        return len(text) == len(self.slots) and self.starts(text)

    def starts(self, prefix: str) -> bool:
        """Whether ``prefix`` can begin a plate of this format."""
        return len(prefix) <= len(self.slots) and all(
            char in slot for char, slot in zip(prefix, self.slots, strict=False)
        )


_CIVIL = (
    ("standard", "PCXXXXX"),  # blue (small vehicles) or yellow (large vehicles): see check()
    ("new_energy", "PCEXDDDD"),  # small new-energy cars: D electric / F hybrid, then 4 digits
    ("new_energy_large", "PCDDDDDE"),  # large new-energy vehicles: D/F last
    ("coach", "PCXXXX学"),
    ("trailer", "PCXXXX挂"),
)
CN_TEMPLATES = (
    *(Template.parse(kind, spec) for kind, spec in _CIVIL),
    *(Template.parse(kind, spec.replace("C", "O", 1), O_AUTHORITY_PRIOR) for kind, spec in _CIVIL),
    *(
        Template.parse(kind, spec)
        for kind, spec in (
            ("police", "PAXXXX警"),
            ("consulate", "PAXXXX领"),
            ("hong_kong", "粤ZXXXX港"),
            ("macau", "粤ZXXXX澳"),
            ("embassy", "使DDDDDD"),
            ("armed_police", "WJPXXXXX"),
            ("armed_police", "WJXXXXX"),
        )
    ),
)


@dataclass(frozen=True, slots=True)
class PlateRules:
    """The plate formats of one region (fixed templates and/or regular expressions) and the
    characters its plates use. Its ``next_chars``/``accepts`` make it a CTC decoding grammar
    when it has templates."""

    region: str
    charset: frozenset[str]
    templates: tuple[Template, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()

    def check(self, text: str, char_confidences: Sequence[float] = (), colour: str | None = None) -> PlateFormat:
        """The format ``text`` matches. ``confidence`` is 0 for an invalid text, else the
        geometric mean of ``char_confidences`` (1 when none are given). Blue and yellow plates
        share one text format: ``kind`` is the plate ``colour`` when it is one of those, else
        ``standard``."""
        valid, kind = self._match(text)
        if kind == "standard" and colour in STANDARD_COLOURS:
            kind = colour
        return PlateFormat(self.region, kind, valid, _geometric_mean(char_confidences) if valid else 0.0)

    def next_chars(self, prefix: str) -> frozenset[str]:
        """Characters that may follow ``prefix`` in some template."""
        chars: set[str] = set()
        for template in self.templates:
            if len(template.slots) > len(prefix) and template.starts(prefix):
                chars |= template.slots[len(prefix)]
        return frozenset(chars)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a valid plate."""
        return self._match(text)[0]

    def log_prior(self, text: str) -> float:
        """Log prior probability of the format of the valid ``text`` (0 for the usual formats and for
        texts matched by a pattern): the largest among the templates it matches."""
        priors = [t.prior for t in self.templates if t.matches(text)]
        return math.log(max(priors)) if priors else 0.0

    def _match(self, text: str) -> tuple[bool, str | None]:
        """Whether ``text`` is valid, and the kind of the template it matches (None for a pattern)."""
        for template in self.templates:
            if template.matches(text):
                return True, template.kind
        return any(pattern.fullmatch(text) for pattern in self.patterns), None


CN_RULES = PlateRules("cn", CN_CHARSET, templates=CN_TEMPLATES)


def plate_rules(region: str, patterns: Sequence[str] = ()) -> PlateRules:
    """Rules for ``region``: ``cn`` built in, ``custom`` from regular expressions ``patterns``."""
    if region == "cn":
        return CN_RULES
    if region != "custom":
        raise ConfigError(f"Unknown plate region {region!r}.", hint="use 'cn', or 'custom' with plate_patterns")
    if not patterns:
        raise ConfigError(
            "plate_region='custom' needs at least one pattern in plate_patterns.",
            hint="e.g. SKYNET_PLATE_PATTERNS='[\"[A-Z]{2}[0-9]{3}[A-Z]{2}\"]'",
        )
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"plate pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return PlateRules("custom", LATIN_CHARSET, patterns=tuple(compiled))


_SEPARATORS = re.compile(r"[\s·.\-_•]+")


def normalize_plate(text: str) -> str:
    """Text for comparing plates: upper case, separators removed, letter O read as digit 0."""
    return _SEPARATORS.sub("", text).upper().replace("O", "0")


def _geometric_mean(values: Sequence[float]) -> float:
    if not values:
        return 1.0
    return math.exp(sum(math.log(max(v, 1e-12)) for v in values) / len(values))

"""Plate queries: normalisation, wildcard and fuzzy plans for an index, and fuzzy ranking.

Plates are indexed by a *normalised* form in which characters OCR confuses are folded to one
class (0/D/Q/O, 8/B, 1/I, 5/S, 2/Z). A query becomes a plan that a backend answers from an index:

- wildcard (``*`` any run, ``?`` one character): candidates come from a literal prefix or suffix
  (B-tree ranges on the normalised text and its reverse) or from literal runs of >= 3 characters
  (a trigram index); candidates are then checked against the exact pattern.
- fuzzy: the query body (without the province character) is split into ``k + 1`` pieces of at
  least 3 characters; any plate within ``k`` edits contains one piece unchanged (pigeonhole), so the
  trigram index yields every candidate. Within one edit (the default) the pieces are the body's
  halves, and a candidate's body starts with the first or ends with the second (:func:`halves`):
  B-tree ranges. :func:`fuzzy_distance` then ranks the candidates with rapidfuzz.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from skynet.store.errors import QueryError

MAX_QUERY_CHARS = 16
_CONFUSABLES = str.maketrans({"O": "0", "D": "0", "Q": "0", "B": "8", "I": "1", "S": "5", "Z": "2"})
_PLATE_CHARS = re.compile(r"[0-9A-Z\u3400-\u9fff]+")
_PATTERN_CHARS = re.compile(r"[0-9A-Z\u3400-\u9fff*?]+")
_DROPPED = re.compile(r"[\s·•\-_.]")
PROVINCE_PENALTY = 0.5
CONFUSION_PENALTY = 0.1
ALTERNATIVE_PENALTY = 0.2  # a match on an alternative read ranks after one on the voted text


def clean(text: str) -> str:
    """Upper-case NFKC form without spaces, dots or dashes (``桂b·12345`` -> ``桂B12345``)."""
    return _DROPPED.sub("", unicodedata.normalize("NFKC", text)).upper()


def normalise(text: str) -> str:
    """:func:`clean`, with OCR-confusable characters folded to one class."""
    return fold(clean(text))


def fold(cleaned: str) -> str:
    """:func:`normalise` of a text that is :func:`clean` already."""
    return cleaned.translate(_CONFUSABLES)


def split_province(text: str) -> tuple[str, str]:
    """(province character or "", rest): a Chinese plate starts with one non-ASCII character."""
    if text and not text[0].isascii():
        return text[0], text[1:]
    return "", text


def _checked(query: str, allowed: re.Pattern[str], what: str) -> str:
    if not isinstance(query, str):
        raise QueryError("a plate query must be text")
    if len(query) > 4 * MAX_QUERY_CHARS:
        raise QueryError(f"plate query too long ({len(query)} characters; at most {MAX_QUERY_CHARS})")
    text = clean(query)
    if not text:
        raise QueryError("empty plate query", "give a plate such as 桂B12345, or a pattern such as 桂B*45")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"plate query too long ({len(text)} characters; at most {MAX_QUERY_CHARS})")
    if not allowed.fullmatch(text):
        raise QueryError(
            f"a {what} may only hold letters, digits and Chinese characters"
            + (", plus * and ?" if allowed is _PATTERN_CHARS else "")
        )
    return text


def exact_query(query: str) -> str:
    """The cleaned plate an exact search looks up."""
    return _checked(query, _PLATE_CHARS, "plate query")


@dataclass(frozen=True, slots=True)
class WildcardPlan:
    """How to answer a wildcard pattern from the index; ``glob`` is the exact SQL GLOB check."""

    glob: str
    norm_prefix: str
    norm_suffix_reversed: str
    norm_runs: tuple[str, ...]  # literal runs of >= 3 characters, normalised


def wildcard_plan(pattern: str) -> WildcardPlan:
    """Plan for ``pattern``; refuses patterns no index can narrow down (such as ``***`` or ``*1*``)."""
    text = _checked(pattern, _PATTERN_CHARS, "plate pattern")
    norm = normalise(text)
    runs = tuple(run for run in re.split(r"[*?]+", norm) if len(run) >= 3)
    prefix = re.split(r"[*?]", norm, maxsplit=1)[0]
    suffix = re.split(r"[*?]", norm[::-1], maxsplit=1)[0]
    if not (runs or prefix or suffix):
        raise QueryError(
            f"pattern {text!r} is too broad to search",
            "give a literal start or end (桂B*45) or 3 characters in a row (*123?)",
        )
    return WildcardPlan(glob=text, norm_prefix=prefix, norm_suffix_reversed=suffix, norm_runs=runs)


@dataclass(frozen=True, slots=True)
class FuzzyPlan:
    """A fuzzy query: its normalised body and province, the pieces to look up, the edit budget."""

    raw_body: str
    body: str
    province: str
    pieces: tuple[str, ...]
    max_edits: int


def fuzzy_plan(query: str, max_edits: int = 1) -> FuzzyPlan:
    """Plan for ``query`` within ``max_edits`` edits after folding confusables.

    Recall is guaranteed for ``min(max_edits, len(body) // 3 - 1)`` edits (pieces must be >= 3
    characters for the trigram index); plates found with more edits, up to ``max_edits``, are kept.
    """
    if max_edits < 0 or max_edits > 3:
        raise QueryError("max_edits must be between 0 and 3")
    text = _checked(query, _PLATE_CHARS, "plate query")
    province, raw_body = split_province(text)
    body = raw_body.translate(_CONFUSABLES)
    if len(body) < 3:
        raise QueryError(f"fuzzy plate search needs at least 3 characters besides the province, got {text!r}")
    parts = min(max_edits, len(body) // 3 - 1) + 1
    bounds = [round(i * len(body) / parts) for i in range(parts + 1)]
    pieces = tuple(dict.fromkeys(body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)))
    return FuzzyPlan(raw_body=raw_body, body=body, province=province, pieces=pieces, max_edits=max_edits)


def halves(plan: FuzzyPlan) -> tuple[str, str] | None:
    """The two halves of the query body when the plan allows one edit, else None.

    A read within one edit of the body starts with the first half or ends with the second (the edit
    falls in one half, or between them, and leaves the other where it was), so two prefix ranges of a
    B-tree yield every candidate: far fewer rows than the trigram index's "holds a half anywhere"."""
    if plan.max_edits != 1 or len(plan.body) < 6:
        return None
    middle = round(len(plan.body) / 2)
    return plan.body[:middle], plan.body[middle:]


def _fts_piece(piece: str) -> str:
    """FTS5 expression for rows holding every trigram of ``piece`` (a superset of rows holding the
    piece: the index keeps no positions, and every candidate is checked exactly afterwards)."""
    trigrams = dict.fromkeys(piece[i : i + 3] for i in range(len(piece) - 2))
    return "(" + " AND ".join(f'"{t}"' for t in trigrams) + ")"  # the charset is checked: quoting is safe


def fts_any(pieces: tuple[str, ...]) -> str:
    """FTS5 MATCH expression for rows that may hold any of ``pieces`` (each >= 3 characters)."""
    return " OR ".join(_fts_piece(piece) for piece in pieces)


def fts_all(pieces: tuple[str, ...]) -> str:
    """FTS5 MATCH expression for rows that may hold all of ``pieces`` (each >= 3 characters)."""
    return " AND ".join(_fts_piece(piece) for piece in pieces)


def fuzzy_distance(plan: FuzzyPlan, text: str) -> float | None:
    """Rank key for a candidate read ``text`` (lower is closer), or None when over the edit budget.

    Edits on the folded body count 1 each; a differing or missing province adds
    :data:`PROVINCE_PENALTY`; each confusable character that differs adds :data:`CONFUSION_PENALTY`.
    """
    province, raw_body = split_province(text)
    body = raw_body.translate(_CONFUSABLES)
    edits = Levenshtein.distance(plan.body, body, score_cutoff=plan.max_edits)
    if edits > plan.max_edits:
        return None
    confusions = max(0, Levenshtein.distance(plan.raw_body, raw_body) - edits)
    penalty = PROVINCE_PENALTY if plan.province and province != plan.province else 0.0
    return edits + penalty + CONFUSION_PENALTY * confusions

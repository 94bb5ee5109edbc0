"""Plate search: exact, wildcard and fuzzy (OCR confusions, province), indexed, safe with bad input."""

from __future__ import annotations

import re

import pytest
from store_support import BACKENDS, database, open_catalog, plate

from skynet.index.synthetic import random_plates
from skynet.store import open_store
from skynet.store.errors import QueryError
from skynet.store.plate_search import fuzzy_plan, normalise, wildcard_plan
from skynet.store.plates import PlateMode

PLATES = ["桂B12345", "桂B88845", "桂A12345", "粤B12345", "湘D0Q8B1", "京N12Z45", "桂BD2345", "沪A99999"]


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(request, tmp_path_factory):
    with database(request.param, request) as url:
        catalog = open_catalog(tmp_path_factory.mktemp("plates"), url)
        filler = random_plates(3000, seed=7)
        catalog.add_sightings([plate(float(i), text) for i, text in enumerate(filler)])
        catalog.add_sightings([plate(10_000.0 + i, text) for i, text in enumerate(PLATES)])
        catalog.add_sightings([plate(20_000.0, "苏E77777", alternatives=(("苏F77777", 0.3),))])
        yield catalog, filler + PLATES + ["苏E77777"]
        catalog.close()


def _texts(hits):
    return [h.text for h in hits]


def test_exact(catalog):
    store, _ = catalog
    assert _texts(store.store.plates.search("桂B12345", PlateMode.EXACT)) == ["桂B12345"]
    assert _texts(store.store.plates.search(" 桂b 12345 ", PlateMode.EXACT)) == ["桂B12345"]
    assert store.store.plates.search("桂I12345", PlateMode.EXACT) == []  # exact does not fold confusables
    assert "桂B12345" in _texts(store.store.plates.search("桂I12345", PlateMode.FUZZY))


@pytest.mark.parametrize("pattern", ["桂B*45", "*123?", "?B12345", "*45", "京*", "*2345", "湘D0Q8B?", "*888*"])
def test_wildcard_matches_exactly_what_a_regex_matches(catalog, pattern):
    store, texts = catalog
    regex = re.compile(pattern.replace("*", ".*").replace("?", "."))
    expected = sorted({t for t in texts if regex.fullmatch(t)})
    got = store.store.plates.search(pattern, PlateMode.WILDCARD, limit=10_000)
    assert sorted(_texts(got)) == expected
    assert all(h.distance == 0 for h in got)


def test_wildcard_matches_alternative_reads_ranked_after(catalog):
    store, _ = catalog
    hits = store.store.plates.search("苏F7777?", PlateMode.WILDCARD)
    assert [(h.text, h.matched_read) for h in hits] == [("苏E77777", "苏F77777")] and hits[0].distance > 0


@pytest.mark.parametrize(
    "query, best",
    [
        ("桂B12345", "桂B12345"),
        ("桂8I2345", "桂B12345"),  # 8/B and 1/I confusions
        ("桂BD2345", "桂BD2345"),  # exact beats the confusable twin 桂B02345-like reads
        ("B12345", "桂B12345"),  # missing province: every province ties, the plate body matches
        ("湘B12345", "桂B12345"),  # wrong province
        ("湘D008B1", "湘D0Q8B1"),  # 0/D/Q confusions
        ("京N1Z245", "京N12Z45"),  # one real edit (transposition = 2 substitutions after folding: 1 each)
    ],
)
def test_fuzzy_ranks_the_intended_plate_first(catalog, query, best):
    store, _ = catalog
    hits = store.store.plates.search(query, PlateMode.FUZZY, max_edits=2)
    assert hits, query
    top = [h for h in hits if h.distance == hits[0].distance]
    assert best in _texts(top)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_fuzzy_finds_every_plate_within_one_edit(catalog):
    store, texts = catalog
    from rapidfuzz.distance import Levenshtein

    query = "桂B12385"
    body = normalise(query)[1:]
    expected = {t for t in texts if Levenshtein.distance(normalise(t)[1:], body) <= 1}
    got = {h.text for h in store.store.plates.search(query, PlateMode.FUZZY, limit=10_000)}
    assert got == expected and "桂B12345" in got


def _one_edit_away(body: str, alphabet: str = "0123456789ACEFGHJ") -> set[str]:
    """Every string one substitution, insertion or deletion from ``body`` (at each position, both ends too)."""
    edits = {body[:i] + body[i + 1 :] for i in range(len(body))}
    for i in range(len(body) + 1):
        edits |= {body[:i] + c + body[i:] for c in alphabet[:3]}
    for i in range(len(body)):
        edits |= {body[:i] + c + body[i + 1 :] for c in alphabet[:3]}
    return edits - {body}


@pytest.mark.parametrize("backend", BACKENDS)
def test_fuzzy_within_one_edit_finds_edits_at_every_position(backend, request, tmp_path):
    """The one-edit plan narrows by the body's halves (a prefix and a suffix range): an edit at the start, the
    end or between the halves, a missing or wrong province and a plate without one are all still found."""
    from rapidfuzz.distance import Levenshtein

    bodies = sorted(_one_edit_away("B12345"))
    texts = [f"桂{b}" for b in bodies] + [f"湘{b}" for b in bodies[::7]] + bodies[::5] + random_plates(2000, seed=3)
    with database(backend, request) as url:
        catalog = open_catalog(tmp_path, url)
        catalog.add_sightings([plate(float(i), text) for i, text in enumerate(texts)])
        for query in ("桂B12345", "B12345", "粤812345"):
            body = normalise(query)[1:] if query[0] == "粤" or query[0] == "桂" else normalise(query)
            expected = {
                t for t in texts if Levenshtein.distance(normalise(t)[1:] if t[0] > "~" else normalise(t), body) <= 1
            }
            got = {h.text for h in catalog.store.plates.search(query, PlateMode.FUZZY, limit=100_000)}
            assert got == expected and len(expected) > len(bodies), query
        catalog.close()


def test_plans_use_an_index():
    assert wildcard_plan("桂B*45").norm_prefix == "桂8" and wildcard_plan("桂B*45").norm_suffix_reversed == "54"
    assert wildcard_plan("*123?").norm_runs == ("123",)
    assert fuzzy_plan("桂B12345", 1).pieces == ("812", "345")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "***",
        "*?*",
        "*1*",
        "x" * 10_000,
        "桂B'; DROP TABLE sightings; --",
        '"桂B1"',
        "a%b_c",
        "[abc]",
        "桂B1\x00",
    ],
)
@pytest.mark.parametrize("mode", list(PlateMode))
def test_malformed_queries_are_clear_errors(catalog, query, mode):
    store, _ = catalog
    try:
        hits = store.store.plates.search(query, mode)
    except QueryError as error:
        assert "sqlite" not in str(error).lower() and len(str(error)) < 300
    else:
        assert hits == []
    assert store.store.sightings.counts()["plate"] == 3000 + len(PLATES) + 1


@pytest.mark.parametrize("pattern", ["桂B*45", "*123?", "?B12345", "*45", "*888*"])
def test_sqlite_wildcard_and_fuzzy_plans_use_indexes(tmp_path, pattern):
    from skynet.store.database import Dialect
    from skynet.store.plates import _GROUPED_MATCHES

    store = open_store(tmp_path)
    source, where, args = store.plates._wildcard(wildcard_plan(pattern))
    plans = [
        store.db.execute(
            "EXPLAIN QUERY PLAN " + _GROUPED_MATCHES[Dialect.SQLITE].format(source=source, where=where), (*args, 10)
        ).fetchall()
    ]
    plans.append(
        store.db.execute(
            "EXPLAIN QUERY PLAN SELECT r.sighting_id FROM plate_fts f JOIN plate_reads r ON r.id = f.rowid "
            "WHERE plate_fts MATCH ?",
            ('"812"',),
        ).fetchall()
    )
    sql, args = store.plates._fuzzy_candidates_query(fuzzy_plan("桂B12345"))  # within one edit: B-tree ranges
    plans.append(store.db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())
    for plan in plans:
        steps = " | ".join(row[-1] for row in plan)
        assert "SCAN r" not in steps and "SCAN plate_reads" not in steps and "SCAN s" not in steps, steps
    store.close()

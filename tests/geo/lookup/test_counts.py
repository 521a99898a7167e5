"""Counts tables: parsing and resolving, on a hand-made hierarchy (pure, no database)."""

from __future__ import annotations

import pytest

from geo.exceptions import InvalidQuery
from geo.lookup.counts import parse_csv, parse_json, resolve_counts
from geo.lookup.hierarchy import Hierarchy, NameIndex, Place, alias_index


def hierarchy() -> Hierarchy:
    return Hierarchy(
        [
            Place(1, "R1", "Rwanda", "", 0, None, 1, "Rwanda"),
            Place(2, "R2", "Kigali City", "", 1, 1, 1, "Rwanda > Kigali City"),
            Place(3, "R3", "Gasabo", "", 2, 2, 1, "Rwanda > Kigali City > Gasabo"),
            Place(4, "R4", "Eastern Province", "", 1, 1, 1, "Rwanda > Eastern Province"),
            Place(5, "R5", "Gasabo", "", 2, 4, 1, "Rwanda > Eastern Province > Gasabo"),
            Place(6, "R6", "Ouganda", "Uganda", 0, None, 6, "Ouganda"),
        ]
    )


def test_csv_reads_a_bom_header_case_and_thousands_separators() -> None:
    rows = parse_csv('\ufeffName,Value\nGasabo,"1,200"\n')
    assert [(r.line, r.key_column, r.key, r.value) for r in rows] == [(2, "name", "Gasabo", 1200.0)]


def test_the_first_filled_key_column_wins() -> None:
    (row,) = parse_json([{"osm_id": "", "path": "Rwanda > Kigali City", "name": "x", "value": 1}])
    assert (row.key_column, row.key) == ("path", "Rwanda > Kigali City")


@pytest.mark.parametrize("value", [True, None, "many", float("inf")])
def test_values_must_be_finite_numbers(value: object) -> None:
    with pytest.raises(InvalidQuery, match="row 1: value must be"):
        parse_json({"rows": [{"name": "Gasabo", "value": value}]})


def test_totals_roll_up_and_ambiguity_is_reported() -> None:
    places = hierarchy()
    rows = parse_json(
        [
            {"osm_id": "R3", "value": 2},
            {"path": "rwanda > eastern province > gasabo", "value": 3},
            {"name": "GASABO", "value": 100},
            {"name": "Kigari", "value": 5},
            {"name": "Uganda", "value": 7},
        ]
    )
    aliases = alias_index(places, [(2, "Kigari")])
    counts = resolve_counts(places, rows, aliases=aliases, country_id=1)
    assert counts.totals == {3: 2, 2: 7, 1: 10, 5: 3, 4: 3}
    assert counts.matched_rows == 3
    assert [(u.line, u.reason.split(":")[0]) for u in counts.unmatched] == [
        (3, "ambiguous"),
        (5, "no boundary named 'Uganda'"),
    ]


def test_without_a_country_every_country_is_in_scope() -> None:
    counts = resolve_counts(
        hierarchy(),
        parse_json([{"name": "uganda", "value": 1}]),
        aliases=NameIndex(),
        country_id=None,
    )
    assert counts.totals == {6: 1}

"""Countries by name, ISO code or relation id; the table checked against posm-extracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo.exceptions import InvalidQuery
from geo.importing.countries import all_countries, find_country, resolve_relation, resolve_relations
from geo.lookup.names import normalise_name


@pytest.mark.parametrize(
    "text", ["uganda", "Uganda", " UGANDA ", "UG", "ug", "UGA", "uga", "R192796", "192796"]
)
def test_one_country_many_spellings(text: str) -> None:
    assert resolve_relation(text) == "R192796"


def test_accents_other_names_and_local_names() -> None:
    """Accents and case are ignored; older, English and local names work too."""
    assert find_country("cote d'ivoire") == find_country("Côte d’Ivoire") == find_country("CI")
    assert resolve_relation("Swaziland") == resolve_relation("Eswatini") == "R88210"
    assert resolve_relation("deutschland") == resolve_relation("Germany") == "R51477"
    assert resolve_relation("the netherlands") == "R2323309"
    assert resolve_relation("R123456789") == "R123456789"  # any relation id, known or not


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(
        InvalidQuery, match=r"unknown country 'ugnda' \(did you mean Uganda \(UG, R192796\)"
    ):
        resolve_relation("ugnda")
    with pytest.raises(InvalidQuery, match=r"did you mean Germany \(DE, R51477\)"):
        resolve_relation("Germny")
    with pytest.raises(InvalidQuery, match=r"^unknown country 'qqqq'; give a country name"):
        resolve_relation("qqqq")


def test_known_country_without_a_relation_id() -> None:
    with pytest.raises(
        InvalidQuery, match=r"Kenya \(KE\) has no OSM relation id .* give its relation id"
    ):
        resolve_relation("kenya")


def test_several_at_once_report_every_problem_and_drop_repeats() -> None:
    assert resolve_relations(["UG", "uganda", "RW"]) == ["R192796", "R171496"]
    with pytest.raises(InvalidQuery, match=r"unknown country 'x1'.*; unknown country 'zz'"):
        resolve_relations(["x1", "RW", "zz"])


def test_table_is_whole_and_unambiguous() -> None:
    """249 ISO 3166-1 countries; codes and names each name one country."""
    countries = all_countries()
    assert len(countries) == 249
    assert len({c.alpha2 for c in countries}) == len({c.alpha3 for c in countries}) == 249
    names = [normalise_name(n) for c in countries for n in {c.name, *c.other_names}]
    assert len(names) == len(set(names))
    relations = [c.osm_id for c in countries if c.osm_id]
    assert len(relations) == len(set(relations))


@pytest.mark.real_data
def test_relation_ids_are_the_posm_extracts_countries(posm_extracts: Path) -> None:
    """Every relation id in the table is a posm-extracts country file of that name."""
    checked = 0
    for country in all_countries():
        if not country.osm_id:
            continue
        admin0 = json.loads(
            (posm_extracts / f"{country.osm_id}admin0_simplified.json").read_bytes()
        )
        (feature,) = admin0["features"]
        names = {normalise_name(n) for n in (country.name, *country.other_names)}
        assert normalise_name(feature["properties"]["name_en"]) in names, country
        checked += 1
    assert checked == 100

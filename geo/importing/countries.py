"""Countries by name, ISO 3166-1 code or OSM relation id, from the table the project keeps.

``geo/data/countries.csv`` (made by ``scripts/make_countries_table.py``) lists
the world's countries with their ISO codes and, where it could be checked
against the posm-extracts data, the OSM relation id a download needs. So an
operator types ``uganda``, ``UG``, ``UGA`` or ``R192796`` instead of looking
the relation up on Nominatim first, as RapidPro's guide has them do.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz, process

from geo.exceptions import InvalidQuery
from geo.lookup.names import normalise_name

TABLE = Path(__file__).resolve().parent.parent / "data" / "countries.csv"
# OSM ids are 64-bit: at most 20 digits.
RELATION_ID = re.compile(r"^[Rr]?(\d{1,20})$")
# How close a name must be (0-100, RapidFuzz WRatio) to be suggested.
SUGGESTION_CUTOFF = 75


@dataclass(frozen=True, slots=True)
class Country:
    """One row of the table."""

    name: str
    alpha2: str
    alpha3: str
    osm_id: str  # "" when the table has no checked relation id
    other_names: tuple[str, ...] = ()

    def __str__(self) -> str:
        relation = f", {self.osm_id}" if self.osm_id else ""
        return f"{self.name} ({self.alpha2}{relation})"


@dataclass(frozen=True, slots=True)
class _Index:
    countries: tuple[Country, ...]
    by_code: dict[str, Country]
    by_name: dict[str, Country]


@cache
def _index() -> _Index:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        countries = tuple(
            Country(
                name=row["name"],
                alpha2=row["alpha2"],
                alpha3=row["alpha3"],
                osm_id=row["osm_id"],
                other_names=tuple(n for n in row["other_names"].split(";") if n),
            )
            for row in csv.DictReader(handle)
        )
    by_code = {code: c for c in countries for code in (c.alpha2, c.alpha3)}
    by_name = {normalise_name(name): c for c in countries for name in (c.name, *c.other_names)}
    return _Index(countries, by_code, by_name)


def all_countries() -> tuple[Country, ...]:
    """Return every country of the table, by name."""
    return _index().countries


def find_country(text: str) -> Country | None:
    """Return the country an ISO code, a name or a relation id names, or None.

    Codes and names ignore case and accents (``cote d'ivoire``); a relation id
    finds the country only if the table has it.
    """
    text = text.strip()
    index = _index()
    if (found := index.by_code.get(text.upper())) is not None:
        return found
    if (match := RELATION_ID.match(text)) is not None:
        relation = f"R{match[1]}"
        return next((c for c in index.countries if c.osm_id == relation), None)
    return index.by_name.get(normalise_name(text))


def resolve_relation(text: str) -> str:
    """Return the OSM relation id (``R192796``) a download of ``text`` needs.

    ``text`` is a relation id (``R192796`` or ``192796``, taken as given even
    when the table does not know it), an ISO 3166-1 code (``UG``, ``UGA``) or
    a country name (``uganda``, ``Côte d'Ivoire``), case and accents ignored.

    Raises
    ------
    InvalidQuery
        An unknown name (with the closest names, if any), or a country the
        table has no relation id for.
    """
    cleaned = text.strip()
    if (match := RELATION_ID.match(cleaned)) is not None:
        return f"R{match[1]}"
    country = find_country(cleaned)
    if country is None:
        raise InvalidQuery(f"unknown country {text!r}{_suggestions(cleaned)}; {_HOW}")
    if not country.osm_id:
        raise InvalidQuery(
            f"{country.name} ({country.alpha2}) has no OSM relation id in Mipaka's country table;"
            " give its relation id (R…, from openstreetmap.org) instead"
        )
    return country.osm_id


def resolve_relations(texts: list[str]) -> list[str]:
    """Resolve each of ``texts`` (see ``resolve_relation``), dropping repeats, in order.

    Raises
    ------
    InvalidQuery
        One line naming every text that could not be resolved.
    """
    relations: list[str] = []
    problems: list[str] = []
    for text in texts:
        try:
            relation = resolve_relation(text)
        except InvalidQuery as exc:
            problems.append(exc.message)
            continue
        if relation not in relations:
            relations.append(relation)
    if problems:
        raise InvalidQuery("; ".join(problems))
    return relations


_HOW = "give a country name, an ISO 3166 code (UG, UGA) or an OSM relation id (R192796)"


def _suggestions(text: str) -> str:
    index = _index()
    folded = normalise_name(text)
    if not folded:
        return ""
    found = process.extract(
        folded, list(index.by_name), scorer=fuzz.WRatio, limit=6, score_cutoff=SUGGESTION_CUTOFF
    )
    seen: list[Country] = []
    for key, _score, _position in found:
        country = index.by_name[key]
        if country not in seen:
            seen.append(country)
    if not seen:
        return ""
    return " (did you mean " + " or ".join(str(c) for c in seen[:3]) + "?)"

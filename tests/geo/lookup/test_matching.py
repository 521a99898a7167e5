from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from geo.lookup.hierarchy import Hierarchy, Place, alias_index
from geo.lookup.matching import Method, Scope, match_text, resolve_parent
from geo.lookup.names import normalise_name
from tests.conftest import ROOT
from tests.matching_cases import KINDS, Case, make_cases, read_extracts, tally

REFERENCE = Path(os.environ.get("MIPAKA_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))


def build(rows: list[dict[str, Any]]) -> tuple[Hierarchy, list[tuple[int, str]]]:
    """A hierarchy from goflow-cases style rows (osm_id, name, level, parent, aliases)."""
    ids = {row["osm_id"]: number for number, row in enumerate(rows, start=1)}
    paths: dict[str, str] = {}
    places, aliases = [], []
    for row in rows:
        parent = row.get("parent")
        paths[row["osm_id"]] = f"{paths[parent]} > {row['name']}" if parent else row["name"]
        country = row["osm_id"]
        while (up := next(r for r in rows if r["osm_id"] == country).get("parent")) is not None:
            country = up
        places.append(
            Place(ids[row["osm_id"]], row["osm_id"], row["name"], row.get("name_en", ""), row["level"],
                  ids.get(parent) if parent else None, ids[country], paths[row["osm_id"]])
        )  # fmt: skip
        aliases += [(ids[row["osm_id"]], alias) for alias in row.get("aliases", [])]
    return Hierarchy(places), aliases


GOFLOW = json.loads((REFERENCE / "goflow-cases.json").read_text())
HIERARCHY, ALIASES = build(GOFLOW["hierarchy"])
ALIAS_INDEX = alias_index(HIERARCHY, ALIASES)


def answer(
    hierarchy: Hierarchy, text: str, level: int, parent: str | None = None, **kwargs: Any
) -> str | None:
    """The path a flow gets, as has_state/has_district/has_ward would use it (None: no match)."""
    aliases = kwargs.pop("aliases", ALIAS_INDEX)
    scope_parent = None
    if parent is not None:
        scope_parent = resolve_parent(hierarchy, parent, level=level, aliases=aliases)
        if scope_parent is None:
            return None
    result = match_text(
        hierarchy, text, scope=Scope(level=level, parent=scope_parent), aliases=aliases, **kwargs
    )
    return result.best.place.path if result.best else None


@pytest.mark.parametrize(
    "case", GOFLOW["cases"], ids=lambda c: f"L{c['level']}:{c['text']}|{c['parent']}"
)
def test_goflow_acceptance_cases(case: dict[str, Any]) -> None:
    """Every has_state / has_district / has_ward case of goflow gives goflow's answer."""
    assert answer(HIERARCHY, case["text"], case["level"], case["parent"]) == case["expect"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ile-de-France", "Rwanda > Île-de-France"),  # no accent: RapidPro fails this
        ("QUEBEC", "Rwanda > Québec"),
        ("ＱＵＥＢＥＣ", "Rwanda > Québec"),  # full-width
        ("\u200fKigali\u200e City", "Rwanda > Kigali City"),  # bidi marks
        ("Kigali\u00a0City", "Rwanda > Kigali City"),  # no-break space
        ("Kigali-City", "Rwanda > Kigali City"),  # RapidPro keeps the hyphenated token whole
        ("I'm in paktikaa", "Rwanda > Paktika"),  # one typo
        ("rwanda > kigali city", "Rwanda > Kigali City"),
        ("Rwanda > Kigali City > Gasabo", None),  # a district path is not a state
    ],
)
def test_beyond_rapidpro(text: str, expected: str | None) -> None:
    """Case, accent, width, bidi, space and hyphen folding; typos; paths respect the level."""
    assert answer(HIERARCHY, text, 1) == expected


def place_rows(*specs: tuple[str, str, int, str | None]) -> list[dict[str, Any]]:
    return [{"osm_id": o, "name": n, "level": lvl, "parent": p} for o, n, lvl, p in specs]


def test_longest_name_wins() -> None:
    """'I live in New York' finds New York, not York (goflow tries single words first)."""
    hierarchy, _ = build(
        place_rows(("R1", "USA", 0, None), ("R2", "York", 1, "R1"), ("R3", "New York", 1, "R1"))
    )
    assert answer(hierarchy, "I live in New York", 1, aliases=None) == "USA > New York"
    assert answer(hierarchy, "York please", 1, aliases=None) == "USA > York"


def test_equally_good_matches_are_reported_as_ambiguous() -> None:
    """Two states both named in the text give both results and no single answer."""
    hierarchy, _ = build(
        place_rows(("R1", "Land", 0, None), ("R2", "Kano", 1, "R1"), ("R3", "Kaduna", 1, "R1"))
    )
    result = match_text(hierarchy, "kano or kaduna", scope=Scope(level=1))
    assert result.ambiguous is True
    assert result.best is None
    assert [m.place.name for m in result.matches] == ["Kaduna", "Kano"]


def test_a_name_shared_by_many_places_is_one_answer_in_path_order() -> None:
    """Thirty districts named Central: all ambiguous in path order, unless the text names a state.

    One key names them all (one hit); the parent named in the text keeps its
    own Central, also when an alias repeats the name for one of the others.
    """
    rows: list[tuple[str, str, int, str | None]] = [("R1", "Land", 0, None)]
    for n in range(30, 0, -1):  # made in reverse: the answer's order is the paths'
        rows += [(f"S{n}", f"State {n:02}", 1, "R1"), (f"D{n}", "Central", 2, f"S{n}")]
    hierarchy, _ = build(place_rows(*rows))
    by_osm_id = hierarchy.by_osm_id
    aliases = alias_index(hierarchy, [(by_osm_id["D3"].id, "Central")])
    everywhere = match_text(hierarchy, "I live in Central", scope=Scope(level=2), aliases=aliases)
    assert everywhere.ambiguous is True
    paths = [m.place.path for m in everywhere.matches]
    assert paths == sorted(paths) and len(paths) == 20
    assert paths[0] == "Land > State 01 > Central"
    for text in ("Central, State 07", "state 07 central", "Central in State 07"):
        named = match_text(hierarchy, text, scope=Scope(level=2), aliases=aliases)
        assert [m.place.path for m in named.matches] == ["Land > State 07 > Central"], text
        assert named.ambiguous is False
    # A typo of the shared name: no single closest place, unless the state settles it.
    assert match_text(hierarchy, "Centarl", scope=Scope(level=2), aliases=aliases).matches == []
    typo = match_text(hierarchy, "Centarl, State 07", scope=Scope(level=2), aliases=aliases)
    assert [m.place.path for m in typo.matches] == ["Land > State 07 > Central"]


def test_district_without_parent_must_be_unique() -> None:
    """Remera exists under two states: without a state it is ambiguous; with one it is found."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "Rwanda", 0, None), ("R2", "Kigali City", 1, "R1"), ("R3", "East", 1, "R1"),
            ("R4", "Remera", 2, "R2"), ("R5", "Remera", 2, "R3"),
        )
    )  # fmt: skip
    assert answer(hierarchy, "Remera", 2, aliases=None) is None
    assert (
        answer(hierarchy, "Remera", 2, "kigali city", aliases=None)
        == "Rwanda > Kigali City > Remera"
    )
    assert answer(hierarchy, "Remera", 2, "R3", aliases=None) == "Rwanda > East > Remera"


def test_typos_need_a_clear_winner_and_a_long_enough_name() -> None:
    """A typo matches only one place strictly closer than all others, in names of 5+ letters."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "Rwanda", 0, None), ("R2", "Kigali", 1, "R1"), ("R3", "Nyarugenge", 2, "R2"),
            ("R4", "Gasabo", 2, "R2"), ("R5", "Gasaba", 2, "R2"), ("R6", "Huye", 2, "R2"),
        )
    )  # fmt: skip
    assert answer(hierarchy, "Nyarugengee", 2, aliases=None) == "Rwanda > Kigali > Nyarugenge"
    assert (
        answer(hierarchy, "nyarugnege", 2, aliases=None) == "Rwanda > Kigali > Nyarugenge"
    )  # 2 edits, long name
    assert answer(hierarchy, "Gasabi", 2, aliases=None) is None  # 1 edit from Gasabo and Gasaba
    assert answer(hierarchy, "Huya", 2, aliases=None) is None  # too short to guess
    assert answer(hierarchy, "Nyarugengee", 2, aliases=None, fuzzy=False) is None


def test_typo_matches_say_how_they_matched() -> None:
    """A fuzzy match carries its method and a score below an exact one."""
    result = match_text(HIERARCHY, "Paktikka", scope=Scope(level=1), aliases=ALIAS_INDEX)
    assert result.best is not None
    assert result.best.method is Method.FUZZY
    assert 0 < result.best.score < 0.95


def test_english_names_match_too() -> None:
    """Both the local name and name_en find a boundary."""
    rows = place_rows(("R1", "Rwanda", 0, None))
    rows.append(
        {
            "osm_id": "R2",
            "name": "Umujyi wa Kigali",
            "name_en": "Kigali City",
            "level": 1,
            "parent": "R1",
        }
    )
    hierarchy, _ = build(rows)
    assert answer(hierarchy, "kigali city", 1, aliases=None) == "Rwanda > Umujyi wa Kigali"
    assert answer(hierarchy, "umujyi wa kigali", 1, aliases=None) == "Rwanda > Umujyi wa Kigali"


def test_country_scope_excludes_other_countries() -> None:
    """A workspace scoped to one country never matches another country's places."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "A", 0, None),
            ("R2", "Kano", 1, "R1"),
            ("R3", "B", 0, None),
            ("R4", "Kano", 1, "R3"),
        )
    )
    country_b = hierarchy.by_osm_id["R3"].id
    result = match_text(hierarchy, "Kano", scope=Scope(level=1, country_id=country_b))
    assert [m.place.osm_id for m in result.matches] == ["R4"]
    assert result.ambiguous is False


RWANDA = place_rows(
    ("R1", "Rwanda", 0, None), ("R2", "Kigali City", 1, "R1"), ("R3", "Iburasirazuba", 1, "R1"),
    ("R4", "Gasabo", 2, "R2"), ("R5", "Nyarugenge", 2, "R2"), ("R6", "Kigali", 2, "R3"),
    ("R7", "Remera", 2, "R2"), ("R8", "Remera", 2, "R3"), ("R9", "Kicukiro District", 2, "R2"),
    ("R10", "Rwamagana", 2, "R3"), ("R11", "Bugesera", 2, "R3"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "level", "expected"),
    [
        ("Gasbao", 2, "R4"),  # two letters swapped: one edit
        ("Kgiali City", 1, "R2"),
        ("nyaruegnge", 2, "R5"),
        ("Iburasirzuab", 1, "R3"),  # two edits in a long name, one place clearly closest
        ("ibursirazba", 1, "R3"),  # two letters dropped: the longer of text and name decides
        ("Kigalicity", 1, "R2"),  # words run together
        ("nyaru genge", 2, "R5"),  # a word split apart
        ("Gasabo District", 2, "R4"),  # a level word added
        ("Kicukiro", 2, "R9"),  # the name's level word left out
        ("Kicukiro Sector", 2, "R9"),
        ("District de Kicukiro", 2, "R9"),
        ("Kigali City, Gasabo", 2, "R4"),  # the parent beside the child, no parent given
        ("Gasabo in Kigali City", 2, "R4"),
        ("Remera, Kigali City", 2, "R7"),  # the parent tells the two Remeras apart
        ("Iburasirazuba Remera", 2, "R8"),
        ("Kigali", 2, "R6"),  # the district Kigali, when nothing else is said
        ("I live in Rwamagna", 2, "R10"),  # a typo inside a sentence
        ("Bugesera diatrict", 2, "R11"),
    ],
)
def test_matches_as_people_type(text: str, level: int, expected: str) -> None:
    """Swaps, two typos in long names, joined or split words, level words, parent beside child."""
    hierarchy, _ = build(RWANDA)
    result = match_text(hierarchy, text, scope=Scope(level=level))
    assert result.best is not None, result
    assert result.best.place.osm_id == expected


@pytest.mark.parametrize(
    "text", ["I don't know", "N/A", "no", "yes", "hello", "Remera", "Remeraa", "Kigali and Remera"]
)
def test_everyday_replies_and_real_ties_name_nothing(text: str) -> None:
    """Replies that name no place, and texts that name two equally, give no single answer."""
    hierarchy, _ = build(RWANDA)
    assert match_text(hierarchy, text, scope=Scope(level=2)).best is None


def test_a_typo_in_a_longer_name_is_not_taken_for_the_shorter_one() -> None:
    """'mato grosso do sull' is Mato Grosso do Sul, though 'mato grosso' is an exact name."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "Brasil", 0, None), ("R2", "Mato Grosso", 1, "R1"),
            ("R3", "Mato Grosso do Sul", 1, "R1"),
        )
    )  # fmt: skip
    for text, expected in [
        ("mato grosso do sull", "R3"),
        ("mat grosso do sul", "R3"),
        ("mato grosso", "R2"),
        ("I live in Mato Grosso", "R2"),
    ]:
        result = match_text(hierarchy, text, scope=Scope(level=1))
        assert result.best is not None and result.best.place.osm_id == expected, text


def test_spacing_vowel_signs_stay_inside_their_word() -> None:
    """Bengali names keep their words whole, so a typo is one edit, not a broken word."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "বাংলাদেশ", 0, None), ("R2", "চাঁদপুর জেলা", 1, "R1"), ("R3", "ফেনী জেলা", 1, "R1")
        )
    )
    assert normalise_name("চাঁদপুর জেলা").split() == ["চাদপর", "জেলা"]
    result = match_text(hierarchy, "চাদপুর", scope=Scope(level=1))
    assert result.best is not None and result.best.place.osm_id == "R2"


def test_joined_and_level_word_matches_say_how_they_matched() -> None:
    """Runs found without spaces or level words are token matches scored below exact runs."""
    hierarchy, _ = build(RWANDA)
    joined = match_text(hierarchy, "kigalicity", scope=Scope(level=1)).best
    core = match_text(hierarchy, "Kicukiro", scope=Scope(level=2)).best
    assert joined is not None and core is not None
    assert (joined.method, core.method) == (Method.TOKEN, Method.TOKEN)
    assert joined.score < core.score < 0.95


# Held-out countries of scripts/bench_matching.py (seed 10), of many scripts and sizes:
# Rwanda, Canada, Mexico, France, Ukraine, Japan, Germany, Uganda, Spain, Jordan.
REAL_COUNTRIES = "R171496 R1428125 R114686 R2202162 R60199 R382313 R51477 R192796 R1311341 R184818"
# Per kind: the least share right and the most share wrong, with room below what is measured.
THRESHOLDS = dict.fromkeys(KINDS, (0.95, 0.01)) | {"everyday": (1.0, 0.0), "all": (0.97, 0.003)}


@pytest.fixture(scope="module")
def real_outcomes() -> dict[str, Counter[str]]:
    from tests.conftest import POSM_EXTRACTS

    assert POSM_EXTRACTS.is_dir(), f"posm-extracts data not found at {POSM_EXTRACTS}"
    countries = REAL_COUNTRIES.split()
    world = read_extracts(POSM_EXTRACTS, countries)
    cases = make_cases(world, countries, seed=10, per_kind=8)

    def answer(case: Case) -> tuple[list[str], bool]:
        scope = Scope(level=case.level, country_id=world.by_osm_id[case.country].id)
        result = match_text(world, case.text, scope=scope)
        return [m.place.osm_id for m in result.matches], result.ambiguous

    return tally(cases, answer)


@pytest.mark.real_data
@pytest.mark.parametrize("kind", [*KINDS, "all"])
def test_held_out_cases_from_real_names(real_outcomes: dict[str, Counter[str]], kind: str) -> None:
    """Cases made from ten countries' real names are right at least as often as the goal."""
    counts = real_outcomes[kind]
    total = sum(counts.values())
    least_right, most_wrong = THRESHOLDS[kind]
    assert total >= 50, f"only {total} {kind} cases were made"
    assert counts["right"] / total >= least_right, counts
    assert counts["wrong"] / total <= most_wrong, counts


def test_a_typo_in_the_level_word_still_tells_places_sharing_a_core_apart() -> None:
    """'gyongyisi jara' is Gyöngyösi járás, though Gyöngyösi kistérség has the same core."""
    hierarchy, _ = build(
        place_rows(
            ("R1", "Magyarország", 0, None), ("R2", "Észak", 1, "R1"),
            ("R3", "Gyöngyösi járás", 2, "R2"), ("R4", "Gyöngyösi kistérség", 2, "R2"),
        )
    )  # fmt: skip
    result = match_text(hierarchy, "gyongyisi jara", scope=Scope(level=2))
    assert result.best is not None and result.best.place.osm_id == "R3"
    assert match_text(hierarchy, "gyongyisi", scope=Scope(level=2)).best is None


def test_codes_and_names_in_every_language_match_from_the_snapshot() -> None:
    """Codes match whole texts (folded), after exact names; names and variants match as names."""
    places = [
        Place(1, "R1", "Rwanda", "Rwanda", 0, None, 1, "Rwanda", codes=(("wikidata", "Q1037"),)),
        Place(2, "R2", "Umujyi wa Kigali", "Kigali City", 1, 1, 1, "Rwanda > Umujyi wa Kigali",
              names=(("fr", "Ville de Kigali"),), other_names=("Kigali Province",),
              codes=(("iso3166_2", "RW-01"), ("ref", "KG"))),
        Place(3, "R3", "RW02", "", 1, 1, 1, "Rwanda > RW02", codes=(("iso3166_2", "RW-03"),)),
        Place(4, "R4", "Gasabo", "", 2, 2, 1, "Rwanda > Umujyi wa Kigali > Gasabo",
              codes=(("pcode", "RW0102"),)),
    ]  # fmt: skip
    hierarchy = Hierarchy(places)

    def found(text: str, level: int) -> tuple[str, Method, str] | None:
        best = match_text(hierarchy, text, scope=Scope(level=level)).best
        return (best.place.osm_id, best.method, best.kind) if best else None

    assert found("rw-01", 1) == ("R2", Method.CODE, "code")
    assert found("RW 01", 1) == ("R2", Method.CODE, "code")
    assert found("RW02", 1) == ("R3", Method.EXACT, "name")  # a name before a code
    assert found("RW-03", 1) == ("R3", Method.CODE, "code")
    assert found("rw0102", 2) == ("R4", Method.CODE, "code")
    assert found("rw0102", 1) is None  # a district's code, asked as a state
    assert found("q1037", 0) == ("R1", Method.CODE, "code")
    assert found("KG", 1) is None  # two letters: a likely reply, not matched as a code
    assert found("I live in RW-01", 1) is None  # a code is the whole text, not a word of it
    assert found("ville de kigali", 1) == ("R2", Method.EXACT, "names")
    assert found("je suis a ville de kigali", 1) == ("R2", Method.TOKEN, "names")
    assert found("Vile de Kigalli", 1) == ("R2", Method.FUZZY, "names")
    assert found("villedekigali", 1) == ("R2", Method.TOKEN, "names")
    assert found("kigali province", 1) == ("R2", Method.EXACT, "other_names")
    assert found("kigali city", 1) == ("R2", Method.EXACT, "name_en")
    assert hierarchy.by_code["rw-01"] == [(2, "iso3166_2")]
    assert places[1].name_in("fr") == "Ville de Kigali"
    assert places[1].name_in("en") == "Kigali City"
    assert places[1].name_in("de") == places[1].name_in("") == "Umujyi wa Kigali"

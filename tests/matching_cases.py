"""Held-out matching cases made in code from the real posm-extracts names.

Each case is what a contact of an SMS flow might type when asked for a state
(level 1) or a district (level 2) of their country, and the boundary a careful
reader would take it for (or none). The kinds follow issue 10's table: typos
of several sorts, words run together or split apart, level words, a parent
named beside its child, noise, typos inside sentences, and everyday replies
that name no place.

A mutated name is kept only if it stays strictly closer (in optimal string
alignment edits) to its boundary than to any other boundary of that level in
the country, and a sentence only if its filler words name nothing there, so a
"right" answer always exists. Everything is seeded: the same seed gives the
same cases.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
from rapidfuzz.distance import OSA

from geo.lookup.hierarchy import Hierarchy, Place
from geo.lookup.names import normalise_name

FILE_NAME = re.compile(r"(R\d+)admin([0-2])(_simplified)?\.json$")
MISSING = {"", "None", "none", "null"}

KINDS = (
    "exact",
    "swap",
    "two_typos",
    "parent_child",
    "doubled",
    "dropped",
    "spaces_dropped",
    "words_split",
    "level_words",
    "noise",
    "typo_in_sentence",
    "everyday",
)
EVERYDAY_REPLIES = (
    "I don't know", "N/A", "no", "yes", "hello", "ok", "thanks", "hi", "idk", "not sure",
    "nothing", "none", "stop", "help", "maybe", "good morning", "sorry", "what?", "0", "1",
    "Yes please", "No thank you", "I am fine", "who are you", "later",
    "I will tell you tomorrow", "please call me back", "my name is John", "thank you very much",
    "where is the clinic", "I live near the market", "good evening", "send me the link",
    "I moved last year", "at home", "the same as before", "je ne sais pas", "no se",
)  # fmt: skip
SENTENCES = (
    "I live in {}", "i stay at {} now", "{} please", "my home is {}", "From {}",
    "I am in {} thank you", "{}.", "it is {}", "Je suis à {}", "vivo en {}", "ninaishi {}",
)  # fmt: skip
NOISE = ("{}!!", "  {}  ", "{}?", '"{}"', "{} :)", "{}...", "- {} -", "{},", "({})", "{} 🙂")
LEVEL_WORDS = {
    1: (
        "{} Province", "Province de {}", "Région du {}", "{} Region", "{} State",
        "State of {}", "Provincia de {}", "Estado de {}", "Departamento de {}", "{} County",
    ),
    2: (
        "{} District", "District de {}", "{} County", "County {}", "Distrito de {}",
        "Municipio de {}", "{} Ward", "{} Sector", "{} Cell", "Landkreis {}", "{} район",
    ),
}  # fmt: skip
PARENT_CHILD = ("{parent}, {child}", "{child} in {parent}", "{child}, {parent}", "{parent} {child}")
ONE_TYPO_MIN = 5  # letters a name needs before one typo leaves it recognisable
TWO_TYPOS_MIN = 10  # "a long name"
PER_KIND = 12


@dataclass(frozen=True, slots=True)
class Case:
    """What a contact typed at a level in a country, and the boundary it names (or None)."""

    kind: str
    country: str
    level: int
    text: str
    expected: str | None


def read_extracts(folder: Path, countries: Iterable[str] | None = None) -> Hierarchy:
    """Build a matching hierarchy from posm-extracts files: names and parents, no geometry.

    Each (country, level) reads its ``_simplified`` file when there is one (the
    properties are the same and the file is smaller). Level 2 copies of level 1
    features (Guernsey, Malta) are dropped, as the import merges them.
    """
    wanted = set(countries) if countries is not None else None
    chosen: dict[tuple[str, int], Path] = {}
    for path in sorted(folder.iterdir()):
        found = FILE_NAME.match(path.name)
        if found is None or (wanted is not None and found[1] not in wanted):
            continue
        key = (found[1], int(found[2]))
        if key not in chosen or found[3]:
            chosen[key] = path
    rows: dict[str, tuple[str, str, int, str | None]] = {}
    for (_, level), path in sorted(chosen.items(), key=lambda item: item[0][1]):
        for feature in orjson.loads(path.read_bytes())["features"]:
            props = feature["properties"]
            osm_id = str(props["osm_id"])
            if osm_id in rows:
                continue
            parent = None
            for field in ("is_in_state", "is_in_country") if level == 2 else ("is_in_country",):
                value = str(props.get(field))
                if level > 0 and value not in MISSING and value in rows:
                    parent = value
                    break
            rows[osm_id] = (_clean(props.get("name")), _clean(props.get("name_en")), level, parent)
    ids = {osm_id: number for number, osm_id in enumerate(rows, start=1)}
    places: list[Place] = []
    paths: dict[str, str] = {}
    countries_of: dict[str, str] = {}
    for osm_id, (name, name_en, level, parent) in rows.items():
        paths[osm_id] = f"{paths[parent]} > {name}" if parent else name
        countries_of[osm_id] = countries_of[parent] if parent else osm_id
        places.append(
            Place(ids[osm_id], osm_id, name, name_en, level, ids[parent] if parent else None,
                  ids[countries_of[osm_id]], paths[osm_id])
        )  # fmt: skip
    return Hierarchy(places)


def _clean(raw: object) -> str:
    text = "" if raw is None else " ".join(str(raw).split())
    return "" if text in MISSING else text


class _Country:
    """One country's places at one level, with their keys, for making and checking cases."""

    def __init__(self, hierarchy: Hierarchy, country: Place, level: int) -> None:
        self.hierarchy = hierarchy
        self.places = [
            place
            for place in hierarchy.places.values()
            if place.level == level and place.country_id == country.id and place.name
        ]
        self.keys: dict[int, set[str]] = {
            place.id: {key for key in map(normalise_name, (place.name, place.name_en)) if key}
            for place in self.places
        }
        self.named: dict[str, set[int]] = defaultdict(set)
        for place_id, keys in self.keys.items():
            for key in keys:
                self.named[key].add(place_id)
        # Names shared by several places at the level cannot be told apart without a parent.
        self.unique = [
            p for p in self.places if all(len(self.named[k]) == 1 for k in self.keys[p.id])
        ]

    def closest_is(self, text: str, place: Place) -> bool:
        """Tell whether ``text`` is strictly closer to ``place`` than to any other place."""
        text = normalise_name(text)
        mine = min(OSA.distance(text, key) for key in self.keys[place.id])
        if mine == 0:
            return False  # the mutation gave back the name itself (or another key of it)
        return all(
            OSA.distance(text, key, score_cutoff=mine) > mine
            for other, keys in self.keys.items()
            if other != place.id
            for key in keys
        )

    def names_nothing(self, words: str) -> bool:
        """Tell whether no run of words of ``words`` names a place at this level."""
        split = normalise_name(words).split()
        return not any(
            " ".join(split[start : start + size]) in self.named
            for size in range(1, len(split) + 1)
            for start in range(len(split) - size + 1)
        )


def make_cases(
    hierarchy: Hierarchy, countries: Iterable[str], *, seed: int, per_kind: int = PER_KIND
) -> list[Case]:
    """Make up to ``per_kind`` cases of every kind, per country and level (1 and 2)."""
    cases: list[Case] = []
    for osm_id in countries:
        country = hierarchy.by_osm_id[osm_id]
        for level in (1, 2):
            scope = _Country(hierarchy, country, level)
            if not scope.places:
                continue
            for kind in KINDS:
                rng = random.Random(f"{seed}:{osm_id}:{level}:{kind}")
                made = MAKERS[kind](scope, rng, per_kind)
                cases += [Case(kind, osm_id, level, text, expected) for text, expected in made]
    return cases


Made = list[tuple[str, str | None]]


def _sample(scope: _Country, rng: random.Random, *, min_letters: int = 0) -> list[Place]:
    pool = [p for p in scope.unique if len(normalise_name(p.name)) >= min_letters]
    return rng.sample(pool, len(pool))


def _typed(place: Place, rng: random.Random) -> str:
    """The name as a contact types it: the name or its English name, in some case."""
    name = place.name_en if place.name_en and rng.random() < 0.3 else place.name
    return rng.choice((name, name.lower(), name.upper(), normalise_name(name)))


def _mutated(
    mutate: Callable[[str, random.Random], str | None], *, min_letters: int
) -> Callable[[_Country, random.Random, int], Made]:
    def make(scope: _Country, rng: random.Random, count: int) -> Made:
        made: Made = []
        for place in _sample(scope, rng, min_letters=min_letters):
            text = mutate(normalise_name(place.name), rng)
            if text is not None and scope.closest_is(text, place):
                made.append((text, place.osm_id))
            if len(made) == count:
                break
        return made

    return make


def _letters(text: str, *, start: int = 1) -> list[int]:
    """Positions of letters (not spaces), from ``start`` (typos spare the first letter)."""
    return [i for i in range(start, len(text)) if text[i] != " "]


def _swap(text: str, rng: random.Random) -> str | None:
    spots = [i for i in _letters(text)[:-1] if text[i + 1] not in (" ", text[i])]
    if not spots:
        return None
    i = rng.choice(spots)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _double(text: str, rng: random.Random) -> str | None:
    i = rng.choice(_letters(text, start=0))
    return text[: i + 1] + text[i:]


def _drop(text: str, rng: random.Random) -> str | None:
    spots = [
        i for i in _letters(text) if text[i - 1] != " " or i + 1 == len(text) or text[i + 1] != " "
    ]
    i = rng.choice(spots)
    return text[:i] + text[i + 1 :]


def _edit(text: str, rng: random.Random) -> str:
    """One random substitution, insertion, deletion or swap, away from the first letter."""
    alphabet = sorted(set(text.replace(" ", "")))
    i = rng.choice(_letters(text))
    how = rng.choice(("substitute", "insert", "delete", "swap"))
    if how == "substitute":
        return text[:i] + rng.choice([c for c in alphabet if c != text[i]] or ["x"]) + text[i + 1 :]
    if how == "insert":
        return text[:i] + rng.choice(alphabet) + text[i:]
    if how == "delete" or i + 1 >= len(text) or text[i + 1] == " ":
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _two_typos(text: str, rng: random.Random) -> str | None:
    twice = _edit(_edit(text, rng), rng)
    return twice if OSA.distance(twice, text) == 2 else None


def _one_typo(text: str, rng: random.Random) -> str | None:
    once = _edit(text, rng)
    return once if OSA.distance(once, text) == 1 else None


def _spaces_dropped(scope: _Country, rng: random.Random, count: int) -> Made:
    made: Made = []
    for place in _sample(scope, rng):
        key = normalise_name(place.name)
        if " " in key and scope.closest_is(key.replace(" ", ""), place):
            made.append((_recase(key.replace(" ", ""), rng), place.osm_id))
        if len(made) == count:
            break
    return made


def _words_split(scope: _Country, rng: random.Random, count: int) -> Made:
    made: Made = []
    for place in _sample(scope, rng, min_letters=8):
        key = normalise_name(place.name)
        words = key.split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        word = words[longest]
        if len(word) < 8:
            continue
        cut = rng.randrange(3, len(word) - 2)
        words[longest] = f"{word[:cut]} {word[cut:]}"
        text = " ".join(words)
        if scope.closest_is(text, place) and scope.names_nothing(text):
            made.append((_recase(text, rng), place.osm_id))
        if len(made) == count:
            break
    return made


def _recase(text: str, rng: random.Random) -> str:
    return rng.choice((text, text.title(), text.upper()))


def _exact(scope: _Country, rng: random.Random, count: int) -> Made:
    return [(_typed(place, rng), place.osm_id) for place in _sample(scope, rng)[:count]]


def _in_template(
    templates: tuple[str, ...] | dict[int, tuple[str, ...]], *, typo: bool = False
) -> Callable[[_Country, random.Random, int], Made]:
    def make(scope: _Country, rng: random.Random, count: int) -> Made:
        made: Made = []
        level = scope.places[0].level
        choices = templates[level] if isinstance(templates, dict) else templates
        for place in _sample(scope, rng, min_letters=ONE_TYPO_MIN + 1 if typo else 0):
            template = rng.choice(choices)
            if not scope.names_nothing(template.format("")):
                continue
            name = _typed(place, rng)
            if typo:
                name = _one_typo(normalise_name(name), rng) or ""
                if not name or not scope.closest_is(name, place):
                    continue
            made.append((template.format(name), place.osm_id))
            if len(made) == count:
                break
        return made

    return make


def _level_words(scope: _Country, rng: random.Random, count: int) -> Made:
    """A level word added ("Gasabo District"), or the one in the name left out or moved."""
    made: Made = []
    level = scope.places[0].level
    cores = Counter(_core(key) for keys in scope.keys.values() for key in keys)
    for place in _sample(scope, rng):
        key = normalise_name(place.name)
        core = _core(key)
        if core != key:  # "County Kerry": typed "Kerry", or "Kerry County"
            if not core or cores[core] > 1 or core in scope.named:
                continue
            template = rng.choice(("{}", *LEVEL_WORDS[level]))
            text = template.format(_recase(core, rng))
        else:
            template = rng.choice(LEVEL_WORDS[level])
            text = template.format(_typed(place, rng))
        if scope.names_nothing(template.format("")) and normalise_name(text) not in scope.named:
            made.append((text, place.osm_id))
        if len(made) == count:
            break
    return made


def _core(key: str) -> str:
    """A folded name without the level words and connectors at its ends."""
    words = key.split()
    while words and (words[0] in LEVEL_STRIP_WORDS or words[0] in CONNECTORS):
        words.pop(0)
    while words and (words[-1] in LEVEL_STRIP_WORDS or words[-1] in CONNECTORS):
        words.pop()
    return " ".join(words)


# The level words of the data's languages, folded, and the small words that tie them to a name.
_STRIP_WORDS = (
    "district province region county state ward sector cell parish municipality department "
    "departement prefecture governorate territory division zone commune canton oblast raion "
    "provincia departamento distrito estado municipio regiao comuna distretto landkreis kreis "
    "bezirk maakond vald novads okres kraj kommune opstina opcina jaras kisterseg tumani "
    "viloyati rayonu huyen tinh раион область округ општина νομος περιφερεια محافظه"
)
LEVEL_STRIP_WORDS = frozenset(_STRIP_WORDS.split())
_CONNECTORS = "de du des del da do di of la le l d"
CONNECTORS = frozenset(_CONNECTORS.split())


def _parent_child(scope: _Country, rng: random.Random, count: int) -> Made:
    """A district named with its state, no parent given (the state is the only clue)."""
    if scope.places[0].level != 2:
        return []
    hierarchy = scope.hierarchy
    made: Made = []
    for place in rng.sample(scope.places, len(scope.places)):
        parent = hierarchy.parent_of(place)
        if parent is None or parent.level != 1 or not parent.name:
            continue
        siblings = [
            other
            for other in scope.places
            if other.parent_id == place.parent_id and scope.keys[other.id] & scope.keys[place.id]
        ]
        if len(siblings) > 1:
            continue  # two of that name under one state: the text cannot tell them apart
        template = rng.choice(PARENT_CHILD)
        text = template.format(parent=_typed(parent, rng), child=_typed(place, rng))
        made.append((text, place.osm_id))
        if len(made) == count:
            break
    return made


def _everyday(scope: _Country, rng: random.Random, count: int) -> Made:
    """Every everyday reply that names no place there (cheap, and wrong answers are costly)."""
    return [(reply, None) for reply in EVERYDAY_REPLIES if scope.names_nothing(reply)]


MAKERS: dict[str, Callable[[_Country, random.Random, int], Made]] = {
    "exact": _exact,
    "swap": _mutated(_swap, min_letters=ONE_TYPO_MIN),
    "two_typos": _mutated(_two_typos, min_letters=TWO_TYPOS_MIN),
    "parent_child": _parent_child,
    "doubled": _mutated(_double, min_letters=ONE_TYPO_MIN),
    "dropped": _mutated(_drop, min_letters=ONE_TYPO_MIN + 1),
    "spaces_dropped": _spaces_dropped,
    "words_split": _words_split,
    "level_words": _level_words,
    "noise": _in_template(NOISE),
    "typo_in_sentence": _in_template(SENTENCES, typo=True),
    "everyday": _everyday,
}
OUTCOMES = ("right", "wrong", "none", "ambiguous")


def judge(case: Case, answer: list[str], *, ambiguous: bool) -> str:
    """Classify an answer (osm_ids, best first): right, wrong, none or ambiguous."""
    if not answer:
        return "right" if case.expected is None else "none"
    if ambiguous:
        return "ambiguous" if case.expected is not None else "wrong"
    return "right" if answer[0] == case.expected else "wrong"


def tally(
    cases: Iterable[Case], answer: Callable[[Case], tuple[list[str], bool]]
) -> dict[str, Counter[str]]:
    """Count outcomes per kind (and under ``"all"``)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        osm_ids, ambiguous = answer(case)
        outcome = judge(case, osm_ids, ambiguous=ambiguous)
        counts[case.kind][outcome] += 1
        counts["all"][outcome] += 1
    return counts


def split_countries(countries: Iterable[str], *, seed: int) -> tuple[list[str], list[str]]:
    """Split countries into a tuning third and a held-out rest, fixed by ``seed``."""
    ordered = sorted(countries)
    random.Random(seed).shuffle(ordered)
    cut = len(ordered) // 3
    return sorted(ordered[:cut]), sorted(ordered[cut:])

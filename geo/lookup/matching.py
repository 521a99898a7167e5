"""Match free text to a boundary at a level, as goflow's has_state/district/ward, and better.

Pure and read-only: works on a ``Hierarchy`` snapshot.

Strategies, first that finds anything wins (as goflow's cascade):

1. a path (``Rwanda > Kigali City``), which must be at the requested level
   (goflow returns a path at any level; a state question deserves a state);
2. the whole text as a name, English name or workspace alias;
3. every run of 1 to 6 words inside the text, longest first, so "New York"
   beats "York" and "Je suis dans la province du Québec" finds Québec;
4. typos: a run of words within 1 edit (names of 5+ letters) or 2 edits (9+)
   of a name, same first letter, and strictly closer than any other place.

Several places found by the same strategy are reported as ambiguous, never
silently reduced to the first. Without a parent, a district or ward must be
unique, as in goflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz.distance import Levenshtein

from geo.lookup.hierarchy import Hierarchy, NameIndex, NameKind, Place
from geo.lookup.names import normalise_name, normalise_path

MAX_WORDS = 6
TYPO_MIN_LENGTH = 5
TWO_TYPOS_MIN_LENGTH = 9
KIND_RANK = {"name": 0, "name_en": 1, "alias": 2, "path": 0}


class Method(StrEnum):
    """How a match was found."""

    PATH = "path"
    EXACT = "exact"
    TOKEN = "token"  # noqa: S105 (a word of the text, not a secret)
    FUZZY = "fuzzy"


@dataclass(frozen=True, slots=True)
class Match:
    """One place that matches, how, and how well (1.0 is exact)."""

    place: Place
    method: Method
    kind: NameKind
    matched: str
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Matches best first; ``ambiguous`` when several are equally good."""

    matches: list[Match]
    ambiguous: bool = False

    @property
    def best(self) -> Match | None:
        """The single answer a flow can use, or None (no match, or ambiguous)."""
        return self.matches[0] if self.matches and not self.ambiguous else None


@dataclass(frozen=True, slots=True)
class Scope:
    """Where matches may come from: a level, under a parent, in a country."""

    level: int
    parent: Place | None = None
    country_id: int | None = None

    def admits(self, hierarchy: Hierarchy, place: Place) -> bool:
        """Tell whether a place is in scope."""
        if place.level != self.level:
            return False
        if self.country_id is not None and place.country_id != self.country_id:
            return False
        return self.parent is None or hierarchy.is_within(place, self.parent.id)


NO_MATCH = MatchResult(matches=[])


def match_text(
    hierarchy: Hierarchy,
    text: str,
    *,
    scope: Scope,
    aliases: NameIndex | None = None,
    fuzzy: bool = True,
) -> MatchResult:
    """Find the boundary ``text`` names, within ``scope``.

    Parameters
    ----------
    hierarchy
        The boundary snapshot.
    text
        What a contact typed ("I live in gasabo").
    scope
        Level, optional parent (any ancestor) and country.
    aliases
        The workspace's aliases, if any.
    fuzzy
        Allow typo matches (strategy 4).
    """
    indexes = [hierarchy.names] if aliases is None else [hierarchy.names, aliases]
    if ">" in text:
        found = [
            Match(place, Method.PATH, "path", text.strip(), 1.0)
            for place in hierarchy.by_path.get(normalise_path(text), [])
            if scope.admits(hierarchy, place)
        ]
        if found:
            return _result(found, scope)
        text = text.rsplit(">", 1)[-1]
    normalised = normalise_name(text)
    if not normalised:
        return NO_MATCH
    found = _exact(hierarchy, indexes, normalised, scope, method=Method.EXACT, score=1.0)
    if found:
        return _result(found, scope)
    words = normalised.split()
    for size in range(min(len(words), MAX_WORDS), 0, -1):
        found = []
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            found += _exact(hierarchy, indexes, phrase, scope, method=Method.TOKEN, score=0.95)
        if found:
            return _result(found, scope)
    if fuzzy:
        return _result(_typos(hierarchy, indexes, words, scope), scope)
    return NO_MATCH


def _exact(
    hierarchy: Hierarchy,
    indexes: list[NameIndex],
    key: str,
    scope: Scope,
    *,
    method: Method,
    score: float,
) -> list[Match]:
    found = []
    for index in indexes:
        for place_id, kind in index.lookup(scope.level, key):
            place = hierarchy.places[place_id]
            if scope.admits(hierarchy, place):
                found.append(Match(place, method, kind, key, score))
    return found


def _typos(
    hierarchy: Hierarchy, indexes: list[NameIndex], words: list[str], scope: Scope
) -> list[Match]:
    best: dict[int, Match] = {}
    distances: dict[int, int] = {}
    for size in range(min(len(words), 3), 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            if len(phrase) < TYPO_MIN_LENGTH:
                continue
            allowed = 2 if len(phrase) >= TWO_TYPOS_MIN_LENGTH else 1
            for index in indexes:
                for key in index.buckets.get((scope.level, phrase[0]), ()):
                    if abs(len(key) - len(phrase)) > allowed or len(key) < TYPO_MIN_LENGTH:
                        continue
                    distance = Levenshtein.distance(phrase, key, score_cutoff=allowed)
                    if distance > allowed:
                        continue
                    for place_id, kind in index.lookup(scope.level, key):
                        place = hierarchy.places[place_id]
                        if distance >= distances.get(place_id, allowed + 1) or not scope.admits(
                            hierarchy, place
                        ):
                            continue
                        distances[place_id] = distance
                        score = round(0.9 * (1 - distance / max(len(key), len(phrase))), 3)
                        best[place_id] = Match(place, Method.FUZZY, kind, phrase, score)
    if not best:
        return []
    closest = min(distances.values())
    winners = [best[pid] for pid, d in distances.items() if d == closest]
    # A typo match must be clearly better than the alternatives: one place, alone at the best distance.
    return winners if len(winners) == 1 else []


def _result(found: list[Match], scope: Scope) -> MatchResult:
    unique: dict[int, Match] = {}
    for match in sorted(found, key=lambda m: (-m.score, KIND_RANK[m.kind], -len(m.matched))):
        unique.setdefault(match.place.id, match)
    matches = sorted(unique.values(), key=lambda m: (-m.score, m.place.path))
    return MatchResult(matches=matches, ambiguous=len(matches) > 1)


def resolve_parent(
    hierarchy: Hierarchy,
    reference: str,
    *,
    level: int,
    country_id: int | None = None,
    aliases: NameIndex | None = None,
) -> Place | None:
    """Resolve a ``parent`` given as an osm_id, a path, or free text at the level above.

    Free text must name exactly one place (the has_district/has_ward rule).
    """
    place = hierarchy.by_osm_id.get(reference.strip())
    if place is not None and (country_id is None or place.country_id == country_id):
        return place
    if level <= 0:
        return None
    result = match_text(
        hierarchy, reference, scope=Scope(level=level - 1, country_id=country_id), aliases=aliases
    )
    return result.best.place if result.best else None

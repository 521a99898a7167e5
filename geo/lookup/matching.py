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

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import process
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
DEFAULT_LIMIT = 20

# A candidate before it becomes a Match: (place id, kind, method, matched text, score).
Candidate = tuple[int, NameKind, Method, str, float]


@dataclass(frozen=True, slots=True)
class Found:
    """Places one key found, in path order, with how they were found."""

    entries: list[tuple[int, NameKind]]
    method: Method
    matched: str
    score: float


def match_text(
    hierarchy: Hierarchy,
    text: str,
    *,
    scope: Scope,
    aliases: NameIndex | None = None,
    fuzzy: bool = True,
    limit: int = DEFAULT_LIMIT,
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
    limit
        At most this many matches are returned; ``ambiguous`` still counts them all.
    """
    indexes = [hierarchy.names] if aliases is None else [hierarchy.names, aliases]
    admits = _admission(hierarchy, scope)
    if ">" in text:
        entries = [
            (place.id, "path")
            for place in hierarchy.by_path.get(normalise_path(text), [])
            if place.level == scope.level and (admits is None or admits(place.id))
        ]
        if entries:
            return _result(hierarchy, [Found(entries, Method.PATH, text.strip(), 1.0)], limit)
        text = text.rsplit(">", 1)[-1]
    normalised = normalise_name(text)
    if not normalised:
        return NO_MATCH
    found = _exact(indexes, scope.level, normalised, admits, method=Method.EXACT, score=1.0)
    if found:
        return _result(hierarchy, found, limit)
    words = normalised.split()
    for size in range(min(len(words), MAX_WORDS), 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            found += _exact(indexes, scope.level, phrase, admits, method=Method.TOKEN, score=0.95)
        if found:
            return _result(hierarchy, found, limit)
    if fuzzy:
        return _result(hierarchy, _typos(indexes, words, scope.level, admits), limit)
    return NO_MATCH


def _admission(hierarchy: Hierarchy, scope: Scope) -> Callable[[int], bool] | None:
    """Return a test of place ids against the scope, or None when the level is the whole scope."""
    if scope.parent is None and scope.country_id is None:
        return None
    places = hierarchy.places
    return lambda place_id: scope.admits(hierarchy, places[place_id])


def _exact(
    indexes: list[NameIndex],
    level: int,
    key: str,
    admits: Callable[[int], bool] | None,
    *,
    method: Method,
    score: float,
) -> list[Found]:
    found = []
    for index in indexes:
        entries = index.lookup(level, key)
        if entries and admits is not None:
            entries = [entry for entry in entries if admits(entry[0])]
        if entries:
            found.append(Found(entries, method, key, score))
    return found


def _typos(
    indexes: list[NameIndex], words: list[str], level: int, admits: Callable[[int], bool] | None
) -> list[Found]:
    best: dict[int, tuple[int, Candidate]] = {}
    for size in range(min(len(words), 3), 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            if len(phrase) < TYPO_MIN_LENGTH:
                continue
            allowed = 2 if len(phrase) >= TWO_TYPOS_MIN_LENGTH else 1
            for index in indexes:
                keys = index.buckets.get((level, phrase[0]))
                if not keys:
                    continue
                # rapidfuzz scans the bucket in C, stopping early past ``allowed`` edits.
                for key, distance, _ in process.extract(
                    phrase, keys, scorer=Levenshtein.distance, score_cutoff=allowed, limit=None
                ):
                    if len(key) < TYPO_MIN_LENGTH:
                        continue
                    score = round(0.9 * (1 - distance / max(len(key), len(phrase))), 3)
                    for place_id, kind in index.lookup(level, key):
                        if distance < best.get(place_id, (allowed + 1,))[0] and (
                            admits is None or admits(place_id)
                        ):
                            best[place_id] = (
                                distance,
                                (place_id, kind, Method.FUZZY, phrase, score),
                            )
    if not best:
        return []
    closest = min(distance for distance, _ in best.values())
    winners = [candidate for distance, candidate in best.values() if distance == closest]
    # A typo match must be clearly better than the alternatives: one place, alone at the best distance.
    if len(winners) != 1:
        return []
    place_id, kind, method, matched, score = winners[0]
    return [Found([(place_id, kind)], method, matched, score)]


def _result(hierarchy: Hierarchy, found: list[Found], limit: int) -> MatchResult:
    places = hierarchy.places
    if len(found) == 1:  # the common case: one key, places already in path order
        only = found[0]
        matches = [
            Match(places[pid], only.method, kind, only.matched, only.score)
            for pid, kind in only.entries[:limit]
        ]
        return MatchResult(matches=matches, ambiguous=len(only.entries) > 1)
    best: dict[int, Candidate] = {}
    for group in found:
        for pid, kind in group.entries:
            candidate = (pid, kind, group.method, group.matched, group.score)
            current = best.get(pid)
            if current is None or _preference(candidate) < _preference(current):
                best[pid] = candidate
    rank = hierarchy.path_rank
    ordered = sorted(best.values(), key=lambda c: (-c[4], rank[c[0]]))
    matches = [
        Match(places[pid], method, kind, matched, score)
        for pid, kind, method, matched, score in ordered[:limit]
    ]
    return MatchResult(matches=matches, ambiguous=len(ordered) > 1)


def _preference(candidate: Candidate) -> tuple[float, int, int]:
    return (-candidate[4], KIND_RANK[candidate[1]], -len(candidate[3]))


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

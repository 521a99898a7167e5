"""Match free text to a boundary at a level, as goflow's has_state/district/ward, and better.

Pure and read-only: works on a ``Hierarchy`` snapshot.

Strategies, first that finds anything wins (as goflow's cascade):

1. a path (``Rwanda > Kigali City``), which must be at the requested level
   (goflow returns a path at any level; a state question deserves a state);
2. the whole text as a name (its own, English, in another language, or a
   variant) or workspace alias; else as a code of the place (``RW-02``,
   ``rw02``, ``Q3294``: case and punctuation ignored);
3. every run of words inside the text as a name, or as a name without its
   level words ("Kerry" for "County Kerry"), or joined without spaces
   ("kigalicity", "nyaru genge"). The longest run wins, so "New York" beats
   "York" and "Je suis dans la province du Québec" finds Québec; but a place
   whose parent (or any ancestor) the rest of the text names wins over the
   others, so "Kigali City, Gasabo" is Gasabo even where a district is named
   Kigali. A run that is an exact name but sits inside a longer name with a
   typo ("mato grosso do sull") gives the longer name;
4. typos: a run of words within 1 edit (names of 5+ letters) or 2 edits (9+)
   of a name, same first letter, a transposition counting as one edit
   (optimal string alignment), and strictly closer than any other place; a
   tie goes to the longer run that holds the others, then to the one whose
   parent the text names.

Several places found by the same strategy are reported as ambiguous, never
silently reduced to the first. Without a parent, a district or ward must be
unique, as in goflow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from geo.lookup.hierarchy import Hierarchy, NameIndex, NameKind, Place
from geo.lookup.names import normalise_name, normalise_path

TYPO_MAX_WORDS = 4
TYPO_MIN_LENGTH = 5
TWO_TYPOS_MIN_LENGTH = 9
KIND_RANK = {
    "name": 0,
    "name_en": 1,
    "names": 1,
    "other_names": 2,
    "alias": 2,
    "path": 0,
    "code": 0,
}


class Method(StrEnum):
    """How a match was found."""

    PATH = "path"
    EXACT = "exact"
    CODE = "code"
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
    found = _exact(
        indexes, scope.level, normalised, admits, method=Method.EXACT, score=1.0
    ) or _by_code(hierarchy, scope.level, normalised, text, admits)
    if found:
        return _result(hierarchy, found, limit)
    country_id = scope.country_id
    if country_id is None and scope.parent is not None:
        country_id = scope.parent.country_id
    message = Text(normalised.split(), scope.level, indexes, admits, country_id)
    hits = _phrase_hits(message)
    if hits:
        hits = _best_hits(hierarchy, message, hits)
        hits = _longer_with_typo(message, hits) or hits
        return _result(hierarchy, _grouped(hierarchy, hits), limit)
    if fuzzy:
        hits = _typos(hierarchy, message)
        return _result(hierarchy, _grouped(hierarchy, hits), limit)
    return NO_MATCH


@dataclass(slots=True)
class Text:
    """A message's words and what they are matched against."""

    words: list[str]
    level: int
    indexes: list[NameIndex]
    admits: Callable[[int], bool] | None
    country_id: int | None
    _mentions: dict[int, list[tuple[int, int]]] | None = None

    def phrase(self, start: int, end: int) -> str:
        """Return the words ``start:end`` as one key."""
        return " ".join(self.words[start:end])

    def bucket(self, index: NameIndex, first: str) -> list[str]:
        """Return the keys of ``index`` at the level starting with ``first`` (in the country)."""
        if self.country_id is not None:
            return index.country_buckets.get((self.country_id, self.level, first), [])
        return index.buckets.get((self.level, first), [])

    def longest(self) -> int:
        """Return the most words a name at the level has, in any index."""
        return max(index.longest.get(self.level, 0) for index in self.indexes)

    def spans(self, max_words: int) -> list[tuple[int, int]]:
        """Every run of 1 to ``max_words`` words, longest first."""
        count = len(self.words)
        return [
            (start, start + size)
            for size in range(min(count, max_words), 0, -1)
            for start in range(count - size + 1)
        ]

    def mentions(self) -> dict[int, list[tuple[int, int]]]:
        """Places above the level that runs of the text name, with where (computed once)."""
        if self._mentions is None:
            self._mentions = defaultdict(list)
            longest = max(
                (
                    index.longest.get(level, 0)
                    for level in range(self.level)
                    for index in self.indexes
                ),
                default=0,
            )
            for start, end in self.spans(longest):
                key = self.phrase(start, end)
                for level in range(self.level):
                    for index in self.indexes:
                        for place_id, _ in index.lookup(level, key) or index.lookup_core(
                            level, key
                        ):
                            self._mentions[place_id].append((start, end))
        return self._mentions


class Hit(NamedTuple):
    """Places named the same way by the words ``start:end``; lower ``rank`` is better.

    ``entries`` are ``(place id, kind)`` in path order, each place once: a
    common name without a country ("Middlesex", "Central") names hundreds of
    places with one key, and they travel as one hit, not one hit each.
    """

    entries: list[tuple[int, NameKind]]
    start: int
    end: int
    rank: int
    method: Method
    matched: str
    score: float

    @property
    def size(self) -> int:
        """How many words the hit covers."""
        return self.end - self.start


# Tiers of a run of words: the name itself, the name without level words, without spaces.
EXACT_TIER, CORE_TIER, COMPACT_TIER = 0, 1, 2
TIER_SCORES = {EXACT_TIER: 0.95, CORE_TIER: 0.93, COMPACT_TIER: 0.92}
# Words of a run joined up only this many at a time, unless they are the whole text.
JOINED_MAX_WORDS = 4


def _phrase_hits(text: Text) -> list[Hit]:
    """Every run of words naming a place, by its name, its core, or joined up."""
    hits = []
    level, admits, count = text.level, text.admits, len(text.words)
    spans = text.spans(text.longest() + 2)
    for index in text.indexes:
        vocabulary = index.words.get(level, set())
        # unknown[i]: how many of the first i words no key at the level has.
        unknown = [0]
        for word in text.words:
            unknown.append(unknown[-1] + (word not in vocabulary))
        for start, end in spans:
            tiers: tuple[int, ...]
            if unknown[end] - unknown[start]:
                # Not a key nor a core; maybe one typed with spaces moved ("kigalicity",
                # "nyaru genge"), in a short run or the whole text.
                if end - start > JOINED_MAX_WORDS and end - start < count:
                    continue
                tiers = (COMPACT_TIER,)
            else:
                tiers = (EXACT_TIER, CORE_TIER, COMPACT_TIER)
            key = text.phrase(start, end)
            for tier in tiers:
                if tier == EXACT_TIER:
                    entries = index.lookup(level, key)
                elif tier == CORE_TIER:
                    entries = index.lookup_core(level, key)
                else:
                    entries = index.lookup_compact(level, key.replace(" ", ""))
                if entries and admits is not None:
                    entries = [entry for entry in entries if admits(entry[0])]
                if entries:
                    hits.append(
                        Hit(entries, start, end, tier, Method.TOKEN, key, TIER_SCORES[tier])
                    )
                    break
    return hits


def _grouped(hierarchy: Hierarchy, hits: list[Hit]) -> list[Found]:
    """Gather hits found the same way (method, words, score) into one ``Found`` each.

    A common name without a country ("Middlesex", "Central") hits hundreds
    of places: one group in path order, not one ``Found`` per place.
    """
    if len(hits) == 1:  # its entries are in path order already, each place once
        (hit,) = hits
        return [Found(hit.entries, hit.method, hit.matched, hit.score)]
    groups: dict[tuple[Method, str, float], dict[int, NameKind]] = {}
    for hit in hits:
        kinds = groups.setdefault((hit.method, hit.matched, hit.score), {})
        for place_id, kind in hit.entries:
            # A place hit twice the same way keeps its preferred kind, as _result would.
            kept = kinds.get(place_id)
            if kept is None or KIND_RANK[kind] < KIND_RANK[kept]:
                kinds[place_id] = kind
    rank = hierarchy.path_rank
    return [
        Found(sorted(kinds.items(), key=lambda entry: rank[entry[0]]), method, matched, score)
        for (method, matched, score), kinds in groups.items()
    ]


def _best_hits(hierarchy: Hierarchy, text: Text, hits: list[Hit]) -> list[Hit]:
    """Keep the hits a reader would take: parent named, then longest run, then best tier."""
    if len(hits[0].entries) > 1 or len({pid for hit in hits for pid, _ in hit.entries}) > 1:
        hits = _supported(hierarchy, text, hits) or hits
    size = max(hit.size for hit in hits)
    hits = [hit for hit in hits if hit.size == size]
    rank = min(hit.rank for hit in hits)
    hits = [hit for hit in hits if hit.rank == rank]
    if len(hits) == 1:
        return hits
    # A place found by several runs keeps the first.
    seen: set[int] = set()
    kept = []
    for hit in hits:
        entries = [(place_id, kind) for place_id, kind in hit.entries if place_id not in seen]
        seen.update(place_id for place_id, _ in entries)
        if entries:
            kept.append(hit._replace(entries=entries))
    return kept


def _supported(hierarchy: Hierarchy, text: Text, hits: list[Hit]) -> list[Hit]:
    """Keep the places whose parent, or another ancestor, the rest of the text names."""
    mentions = text.mentions()
    if not mentions:
        return []
    places = hierarchy.places
    # Per run of words, the places named elsewhere in the text (hits share a few runs).
    named_apart: dict[tuple[int, int], set[int]] = {}
    # Per run and parent, whether an ancestor is named apart (siblings share the answer).
    answers: dict[tuple[int, int, int | None], bool] = {}
    supported = []
    for hit in hits:
        apart = named_apart.get((hit.start, hit.end))
        if apart is None:
            apart = named_apart[hit.start, hit.end] = {
                place_id
                for place_id, runs in mentions.items()
                if any(end <= hit.start or start >= hit.end for start, end in runs)
            }
        if not apart:
            # Nothing named beside this run ("Central" alone names states too, but
            # with the same words): no entry can be supported, however many it has.
            continue
        entries = []
        for place_id, kind in hit.entries:
            parent_id = places[place_id].parent_id
            answer = answers.get((hit.start, hit.end, parent_id))
            if answer is None:
                answer = False
                ancestor = places.get(parent_id or 0)
                while ancestor is not None and not answer:
                    answer = ancestor.id in apart
                    ancestor = places.get(ancestor.parent_id or 0)
                answers[hit.start, hit.end, parent_id] = answer
            if answer:
                entries.append((place_id, kind))
        if entries:
            supported.append(hit._replace(entries=entries))
    return supported


def _longer_with_typo(text: Text, hits: list[Hit]) -> list[Hit]:
    """Find the one longer name holding the hits' words, typed with a typo around them."""
    count = len(text.words)
    hit = hits[0]
    if hit.size == count:
        return []
    # One place found: its own longer names are no news ("distriio jocoli" is still
    # Distrito Jocolí, "distriio jocoli vijo" is Distrito Jocolí Viejo). Several: any of
    # them may be the one the longer words name.
    first = hit.entries[0][0]
    # (Stops at the second place: a common name's hit holds hundreds.)
    one = all(place_id == first for each in hits for place_id, _ in each.entries)
    found = {first} if one else set()
    best: dict[int, Hit] = {}
    for index in text.indexes:
        for key, offset in index.extensions.get(text.level, {}).get(hit.matched, ()):
            size = key.count(" ") + 1
            start = hit.start - offset
            if start < 0:
                continue
            for end in range(max(hit.end, start + size - 1), min(start + size + 1, count) + 1):
                if end - start <= hit.size:
                    continue
                phrase = text.phrase(start, end)
                allowed = _allowed_edits(min(len(phrase), len(key)))
                distance = OSA.distance(phrase, key, score_cutoff=allowed)
                if distance > allowed:
                    continue
                for place_id, kind in index.lookup(text.level, key) or index.lookup_core(
                    text.level, key
                ):
                    current = best.get(place_id)
                    if (
                        place_id not in found
                        and (current is None or distance < current.rank)
                        and (text.admits is None or text.admits(place_id))
                    ):
                        best[place_id] = Hit([(place_id, kind)], start, end, distance,
                                             Method.FUZZY, phrase,
                                             _typo_score(distance, phrase, key))  # fmt: skip
    if not best:
        return []
    closest = min(hit.rank for hit in best.values())
    winners = [hit for hit in best.values() if hit.rank == closest]
    return winners if len(winners) == 1 else []


def _allowed_edits(length: int) -> int:
    if length >= TWO_TYPOS_MIN_LENGTH:
        return 2
    return 1 if length >= TYPO_MIN_LENGTH else 0


def _typo_score(distance: int, phrase: str, key: str) -> float:
    return round(0.9 * (1 - distance / max(len(key), len(phrase))), 3)


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


def _by_code(
    hierarchy: Hierarchy,
    level: int,
    normalised: str,
    text: str,
    admits: Callable[[int], bool] | None,
) -> list[Found]:
    """Find the places the whole text is a code of ("RW-02", "rw02", "Q3294").

    ``normalised`` is the text folded as a name; less its spaces, it is the
    text folded as a code (``normalise_code``).
    """
    coded = hierarchy.code_keys.get((level, normalised.replace(" ", "")))
    if not coded:
        return []
    entries = [(pid, "code") for pid in coded if admits is None or admits(pid)]
    return [Found(entries, Method.CODE, text.strip(), 1.0)] if entries else []


def _typo_hits(text: Text) -> list[Hit]:
    """List every place a run of words may misspell, with the edits it takes."""
    hits: list[Hit] = []
    level, admits = text.level, text.admits
    for start, end in _typo_spans(text):
        phrase = text.phrase(start, end)
        if len(phrase) < TYPO_MIN_LENGTH:
            continue
        # The longer of the two decides: a name of 9+ letters may lose two ("corriets").
        allowed = _allowed_edits(len(phrase) + 2)
        for index in text.indexes:
            keys = text.bucket(index, phrase[0])
            if not keys:
                continue
            # rapidfuzz scans the bucket in C with Levenshtein, its fastest metric; a swap
            # costs it two edits, so it keeps twice ``allowed`` and OSA settles the few kept.
            for key, _, _ in process.extract(
                phrase, keys, scorer=Levenshtein.distance, score_cutoff=2 * allowed, limit=None
            ):
                distance = OSA.distance(phrase, key, score_cutoff=allowed)
                if len(key) < TYPO_MIN_LENGTH or distance > _allowed_edits(
                    max(len(key), len(phrase))
                ):
                    continue
                score = _typo_score(distance, phrase, key)
                for place_id, kind in index.lookup(level, key) or index.lookup_core(level, key):
                    if admits is None or admits(place_id):
                        hits.append(
                            Hit([(place_id, kind)], start, end, distance, Method.FUZZY, phrase,
                                score)
                        )  # fmt: skip
    return hits


def _typos(hierarchy: Hierarchy, text: Text) -> list[Hit]:
    """Find the one place a run of words misspells, if one is clearly closest."""
    hits = _typo_hits(text)
    if not hits:
        return []
    # Each typo hit names one place (_typo_hits).
    best: dict[int, Hit] = {}
    for hit in hits:
        place_id = hit.entries[0][0]
        current = best.get(place_id)
        if current is None or (hit.rank, -hit.size) < (current.rank, -current.size):
            best[place_id] = hit
    closest = min(hit.rank for hit in best.values())
    winners = [hit for hit in best.values() if hit.rank == closest]
    # "sn jose del golf": a longer run holding every closest one, one edit further, names
    # the place meant ("San José del Golfo", not "San José"); so does "gyongyisi jara" for
    # Gyöngyösi járás, whose core "gyongyosi" it shares with Gyöngyösi kistérség.
    # Both tests depend on a winner's run of words only: compared run with run, a
    # name shared by hundreds of places costs no more than a rare one.
    winning_runs = {(hit.start, hit.end) for hit in winners}
    wider = {
        hit.entries[0][0]: hit
        for hit in hits
        if hit.rank <= closest + 1
        and all(hit.start <= start and end <= hit.end and hit.size > end - start
                for start, end in winning_runs)
    }  # fmt: skip
    if len(wider) == 1:
        winners = list(wider.values())
    if len(winners) > 1:
        # "mat grosso do sul": the run holding the others names the place meant.
        held = {
            (start, end)
            for start, end in winning_runs
            if any(
                outer_start <= start and end <= outer_end and outer_end - outer_start > end - start
                for outer_start, outer_end in winning_runs
            )
        }
        winners = [hit for hit in winners if (hit.start, hit.end) not in held]
    if len(winners) > 1:
        winners = _supported(hierarchy, text, winners)
    # A typo match must be clearly better than the alternatives: one place, alone at the best.
    return winners if len(winners) == 1 else []


def _typo_spans(text: Text) -> list[tuple[int, int]]:
    """List runs of up to 4 words, and for levels with longer names, the text less a few."""
    spans = text.spans(TYPO_MAX_WORDS)
    count, longest = len(text.words), text.longest()
    if count > TYPO_MAX_WORDS and longest > TYPO_MAX_WORDS:
        # "I live in <a long name> thank you": drop up to 4 words before, 3 after.
        spans[:0] = [
            (start, end)
            for start in range(min(5, count))
            for end in range(count, max(count - 4, start), -1)
            if TYPO_MAX_WORDS < end - start <= longest + 1
        ]
    return spans


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

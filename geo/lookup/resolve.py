"""Resolve values stored long ago (paths, osm_ids, codes, names) to today's boundaries.

Flows and contact fields keep what a lookup answered on the day: a path
(``Rwanda > Kigali > Gasabo``), an osm_id, a p-code, a name. Boundaries
change under them (renamed, moved to another parent, re-keyed, split, merged,
retired), and every import records the change: the earlier state of a
boundary as a ``BoundaryVersion``, the boundary that took over as a
``BoundaryLink``. ``resolve`` reads a value the way it was stored, in today's
boundaries first and then in those records, and follows the links, import
after import, to the boundaries of today.

Read-only and callable without a request. The records are indexed in memory
once per state of the history tables (``history_index``), so a batch of
values costs one query to check that the index is still fresh.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from geo.lookup.hierarchy import NameIndex
from geo.lookup.names import normalise_name, strip_level_words
from geo.lookup.snapshot import lookup_data
from geo.models import PATH_SEPARATOR as STORED_PATH_SEPARATOR
from geo.models import Boundary, BoundaryLink, BoundaryVersion, Level, Succession
from geo.workspaces import WorkspaceAccess

# What ``resolve`` says of a value: found as today's boundary, or what became of it.
CURRENT = "current"
UNKNOWN = "unknown"
STATUSES = (CURRENT, *Succession.values, UNKNOWN)
# Of several changes met along the way (renamed, then merged), the one a person
# must hear about: it decides what the stored value now means.
KIND_PRIORITY = (
    Succession.SPLIT,
    Succession.MERGED,
    Succession.MOVED,
    Succession.RENAMED,
    Succession.REKEYED,
)
# Separators of paths as people and other systems write them; ">" is RapidPro's.
# Paths are split on the separator without its spaces: people type "Rwanda>Kigali".
PATH_SEPARATOR = STORED_PATH_SEPARATOR.strip()
OTHER_SEPARATORS = re.compile(r"\s*(?:/|\\|\||,|;|→|»)\s*")
MAX_LEVEL = max(Level)


@dataclass(frozen=True, slots=True)
class State:
    """A boundary as it is today or as it was once (a version, or its state when retired)."""

    boundary_id: int
    osm_id: str
    name: str
    name_en: str
    level: int
    parent_id: int | None
    country_id: int | None
    path: str
    codes: tuple[str, ...]
    # True for today's state of a boundary that is not retired.
    current: bool
    # The import that ended this state (versions only), to know which changes came after.
    ended_by: int | None = None


@dataclass(frozen=True, slots=True)
class TodayBoundary:
    """One of today's boundaries, as answers show it."""

    osm_id: str
    name: str
    name_en: str
    level: int
    path: str
    parent_osm_id: str | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of today's boundaries a value may now mean, and the share of its old area."""

    boundary: TodayBoundary
    # None when the value named several places (an ambiguous name), not one split.
    share: float | None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a stored value means today.

    ``status`` is ``current`` (found as today's boundary), a ``Succession``
    (``renamed``, ``moved``, ``rekeyed``, ``split``, ``merged``, ``retired``)
    or ``unknown``. ``boundary`` is today's boundary when there is one answer;
    ``candidates`` are every boundary it may be, most share first (a split),
    or the places an ambiguous name names.
    """

    value: str
    status: str
    boundary: TodayBoundary | None = None
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Link:
    """A successor of a boundary, as one import recorded it."""

    successor_id: int | None
    kind: str
    share: float
    import_run_id: int | None


@dataclass(slots=True)
class HistoryIndex:
    """Every state of every boundary, by osm_id, code, folded name and level; and the links."""

    today: dict[int, State] = field(default_factory=dict)
    by_osm_id: dict[str, list[State]] = field(default_factory=lambda: defaultdict(list))
    by_code: dict[str, list[State]] = field(default_factory=lambda: defaultdict(list))
    # (level, folded name) → states; ``cores``: the same without level words.
    by_name: dict[tuple[int, str], list[State]] = field(default_factory=lambda: defaultdict(list))
    cores: dict[tuple[int, str], list[State]] = field(default_factory=lambda: defaultdict(list))
    links: dict[int, list[Link]] = field(default_factory=lambda: defaultdict(list))

    def add(self, state: State, names: Iterable[str]) -> None:
        """Index a state under its osm_id, its codes and each of its names."""
        if state.current:
            self.today[state.boundary_id] = state
        self.by_osm_id[state.osm_id].append(state)
        for code in state.codes:
            self.by_code[_fold_code(code)].append(state)
        seen: set[str] = set()
        for name in names:
            key = normalise_name(name) if name else ""
            if not key or key in seen:
                continue
            seen.add(key)
            self.by_name[(state.level, key)].append(state)
            core = strip_level_words(key)
            if core and core != key:
                self.cores[(state.level, core)].append(state)

    def named(self, key: str, level: int) -> list[State]:
        """Return the states named ``key`` (folded) at ``level``, by name, else by core."""
        return self.by_name.get((level, key)) or self.cores.get((level, key)) or []

    def follow(
        self, boundary_id: int, *, since_run: int | None = None
    ) -> tuple[dict[int, float], set[str]]:
        """Follow a boundary's links to today's boundaries.

        Returns
        -------
        tuple
            Today's boundaries, each with the share of the boundary's area it
            took (shares multiplied along the chain, summed over the ways to
            it), and the kinds of change met. Empty when it was retired with
            no successor. ``since_run`` limits a boundary that is still
            current to the changes of that import and later.
        """
        return self._follow(boundary_id, since_run=since_run, seen=frozenset())

    def _follow(
        self, boundary_id: int, *, since_run: int | None, seen: frozenset[int]
    ) -> tuple[dict[int, float], set[str]]:
        links = self.links.get(boundary_id, [])
        if boundary_id in self.today:
            kinds = {
                link.kind
                for link in links
                if link.successor_id == boundary_id
                and (since_run is None or (link.import_run_id or 0) >= since_run)
            }
            return {boundary_id: 1.0}, kinds
        found: dict[int, float] = defaultdict(float)
        kinds = set()
        seen = seen | {boundary_id}
        for link in links:
            if link.successor_id is None or link.successor_id in seen:
                continue
            kinds.add(link.kind)
            leaves, further = self._follow(link.successor_id, since_run=None, seen=seen)
            kinds |= further
            for leaf, share in leaves.items():
                found[leaf] += link.share * share
        return dict(found), kinds


def _fold_code(code: str) -> str:
    return "".join(code.split()).casefold()


def _names(row: Mapping[str, Any]) -> list[str]:
    names = [row["name"], row["name_en"]]
    names += [value for value in (row.get("names") or {}).values() if isinstance(value, str)]
    names += list(row.get("other_names") or [])
    return names


def _codes(codes: dict[str, Any] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in (codes or {}).values() if value not in (None, ""))


def build_history_index() -> HistoryIndex:
    """Read every boundary (today's and retired), every version and every link."""
    index = HistoryIndex()
    boundaries = Boundary.objects.values(
        "id", "osm_id", "name", "name_en", "names", "other_names", "codes", "level",
        "parent_id", "country_id", "path", "retired_at",
    )  # fmt: skip
    for row in boundaries.iterator(chunk_size=5000):
        state = State(
            row["id"], row["osm_id"], row["name"], row["name_en"], row["level"],
            row["parent_id"], row["country_id"], row["path"], _codes(row["codes"]),
            current=row["retired_at"] is None,
        )  # fmt: skip
        index.add(state, _names(row))
    versions = BoundaryVersion.objects.values(
        "boundary_id", "osm_id", "name", "name_en", "names", "codes", "level", "parent_id",
        "boundary__country_id", "path", "ended_by_id",
    ).order_by("valid_to", "id")  # fmt: skip
    for version in versions.iterator(chunk_size=5000):
        state = State(
            version["boundary_id"], version["osm_id"], version["name"], version["name_en"],
            version["level"], version["parent_id"], version["boundary__country_id"],
            version["path"], _codes(version["codes"]), current=False,
            ended_by=version["ended_by_id"],
        )  # fmt: skip
        index.add(state, _names(version))
    links = BoundaryLink.objects.order_by("created_at", "id").values_list(
        "predecessor_id", "successor_id", "kind", "share", "import_run_id"
    )
    for predecessor, successor, kind, share, run in links.iterator(chunk_size=5000):
        index.links[predecessor].append(Link(successor, kind, share, run))
    return index


_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], HistoryIndex] | None = None


def history_key() -> tuple[Any, ...]:
    """Return what changes whenever an import writes boundaries, versions or links (one query).

    The history is append-only (an import adds versions and links, and
    retires boundaries rather than deleting them), so the newest ids say
    whether anything was written: index-only lookups, no table scan.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT COALESCE(max(id), 0) FROM geo_importrun WHERE status = 'succeeded'),
                   (SELECT COALESCE(max(id), 0) FROM geo_boundary),
                   (SELECT COALESCE(max(id), 0) FROM geo_boundaryversion),
                   (SELECT COALESCE(max(id), 0) FROM geo_boundarylink)
            """
        )
        row = cursor.fetchone()
    return tuple(row)


def history_index() -> HistoryIndex:
    """Return the history index of the data as it is now, rebuilt when it changed.

    One index per process (the newest): the key is read at each call, the
    index only when the key moved.
    """
    global _cached  # noqa: PLW0603 (one per process, swapped whole)
    key = history_key()
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        index = build_history_index()
        _cached = (key, index)
        return index


@dataclass(frozen=True, slots=True)
class _Hit:
    """A state a value (or a path's segments down to it) names, and the changes on the way."""

    state: State
    kinds: frozenset[str] = frozenset()
    # False when some segment of a path named a past state.
    current: bool = True


class _Resolver:
    """Resolves values for one workspace against one index."""

    def __init__(
        self,
        index: HistoryIndex,
        *,
        aliases: NameIndex | None,
        country_id: int | None,
        level: int | None,
    ) -> None:
        self.index = index
        self.aliases = aliases
        self.country_id = country_id
        self.level = level
        self._shown: dict[int, TodayBoundary] = {}

    def shown(self, state: State) -> TodayBoundary:
        shown = self._shown.get(state.boundary_id)
        if shown is None:
            parent = self.index.today.get(state.parent_id or 0)
            shown = TodayBoundary(
                state.osm_id, state.name, state.name_en, state.level, state.path,
                parent.osm_id if parent else None,
            )  # fmt: skip
            self._shown[state.boundary_id] = shown
        return shown

    def visible(self, state: State) -> bool:
        return self.country_id is None or state.country_id == self.country_id

    def states_named(self, text: str, level: int) -> list[State]:
        """Return today's and past states named ``text`` at ``level``, and the aliases."""
        key = normalise_name(text)
        if not key:
            return []
        found = [s for s in self.index.named(key, level) if self.visible(s)]
        if self.aliases is not None:
            for place_id, _ in self.aliases.lookup(level, key) or self.aliases.lookup_core(
                level, key
            ):
                state = self.index.today.get(place_id)
                if state is not None and self.visible(state):
                    found.append(state)
        return found

    def resolve(self, value: str) -> Resolution:
        text = value.strip()
        if not text:
            return Resolution(value, UNKNOWN)
        hits = self.hits(text)
        if self.level is not None:
            hits = [hit for hit in hits if hit.state.level == self.level]
        current = [hit for hit in hits if hit.current and hit.state.current]
        if current:
            return self.current(value, current)
        return self.history(value, hits)

    def hits(self, text: str) -> list[_Hit]:
        """Return every state the value may name: as an osm_id, a code, a path or a name."""
        index = self.index
        by_key = index.by_osm_id.get(text) or index.by_code.get(_fold_code(text)) or []
        hits = [_Hit(state, current=state.current) for state in by_key if self.visible(state)]
        if any(hit.current for hit in hits):
            return hits
        if PATH_SEPARATOR in text:
            hits += self.path_hits(text.split(PATH_SEPARATOR))
            return hits
        levels = range(MAX_LEVEL + 1) if self.level is None else [self.level]
        named = [
            _Hit(state, current=state.current)
            for level in levels
            for state in self.states_named(text, level)
        ]
        if not any(hit.current for hit in named):
            parts = OTHER_SEPARATORS.split(text)
            if len(parts) > 1:
                named += self.path_hits(parts)
        return hits + named

    def path_hits(self, parts: Sequence[str]) -> list[_Hit]:
        """Resolve a path segment by segment: each under one of the states the last named.

        The country may be left out (the workspace's is assumed), and the
        order may be reversed (``Gasabo, Kigali City, Rwanda``).
        """
        segments = [part for part in (p.strip().rstrip(".") for p in parts) if part]
        if not segments:
            return []
        found = self.walk(segments)
        if not found:
            found = self.walk(segments[::-1])
        return found

    def walk(self, segments: list[str]) -> list[_Hit]:
        hits = [_Hit(s, current=s.current) for s in self.states_named(segments[0], 0)]
        start = 1
        if not hits and self.country_id is not None:
            country = self.index.today.get(self.country_id)
            if country is None or len(segments) > MAX_LEVEL:
                return []
            hits, start = [_Hit(country)], 0
        for level, segment in enumerate(segments[start:], start=1):
            if level > MAX_LEVEL or not hits:
                return []
            hits = self.children(hits, segment, level)
        # The same state reached twice (a name and an alias): keep one.
        unique: dict[tuple[int, str, bool], _Hit] = {}
        for hit in hits:
            unique.setdefault((hit.state.boundary_id, hit.state.osm_id, hit.current), hit)
        return list(unique.values())

    def children(self, parents: list[_Hit], segment: str, level: int) -> list[_Hit]:
        """Return the states named ``segment`` whose parent then was one of ``parents``.

        When none is, the children of what the parents became today are tried
        (a district whose state was merged into another now sits under that one).
        """
        by_parent: dict[int, _Hit] = {}
        # A boundary named by its current and a past state: the current one decides.
        for hit in sorted(parents, key=lambda h: not (h.current and h.state.current)):
            by_parent.setdefault(hit.state.boundary_id, hit)
        named = self.states_named(segment, level)
        found = []
        for state in named:
            parent = by_parent.get(state.parent_id or 0)
            if parent is not None:
                kinds = parent.kinds | self.kinds_of(parent)
                found.append(_Hit(state, kinds, current=parent.current and parent.state.current))
        if found:
            return found
        successors: dict[int, _Hit] = {}
        for hit in parents:
            if hit.current and hit.state.current:
                continue
            leaves, met = self.index.follow(hit.state.boundary_id, since_run=hit.state.ended_by)
            for leaf in leaves:
                successors[leaf] = _Hit(hit.state, hit.kinds | met | {Succession.MOVED}, False)
        for state in named:
            parent = successors.get(state.parent_id or 0)
            if parent is not None and state.current:
                found.append(_Hit(state, parent.kinds, current=False))
        return found

    def kinds_of(self, hit: _Hit) -> frozenset[str]:
        """Return the changes that made a past state of a still current boundary today's."""
        if hit.current and hit.state.current:
            return frozenset()
        _, kinds = self.index.follow(hit.state.boundary_id, since_run=hit.state.ended_by)
        return frozenset(kinds) or self.compared(hit.state)

    def compared(self, state: State) -> frozenset[str]:
        """Tell what differs between a past state and today's, when no link says it."""
        today = self.index.today.get(state.boundary_id)
        if today is None or state.current:
            return frozenset()
        if today.parent_id != state.parent_id:
            return frozenset({Succession.MOVED})
        if normalise_name(today.name) != normalise_name(state.name):
            return frozenset({Succession.RENAMED})
        if today.osm_id != state.osm_id or today.codes != state.codes:
            return frozenset({Succession.REKEYED})
        # Only the path differs: an ancestor was renamed or moved.
        return frozenset({Succession.RENAMED})

    def current(self, value: str, hits: list[_Hit]) -> Resolution:
        ids = list(dict.fromkeys(hit.state.boundary_id for hit in hits))
        states = [self.index.today[i] for i in ids]
        if len(states) == 1:
            return Resolution(value, CURRENT, self.shown(states[0]))
        states.sort(key=lambda s: (s.path, s.osm_id))
        return Resolution(value, CURRENT, None, [Candidate(self.shown(s), None) for s in states])

    def history(self, value: str, hits: list[_Hit]) -> Resolution:
        if not hits:
            return Resolution(value, UNKNOWN)
        matched: dict[int, _Hit] = {}
        for hit in hits:
            matched.setdefault(hit.state.boundary_id, hit)
        shares: dict[int, float] = defaultdict(float)
        kinds: set[str] = set()
        for hit in matched.values():
            if hit.state.current:
                leaves, met = {hit.state.boundary_id: 1.0}, set(hit.kinds)
            else:
                leaves, met = self.index.follow(hit.state.boundary_id, since_run=hit.state.ended_by)
                met |= hit.kinds
                if len(leaves) == 1 and not met:
                    met = set(self.compared(hit.state))
            kinds |= met
            for leaf, share in leaves.items():
                shares[leaf] += share
        today = [self.index.today[i] for i in shares if self.visible(self.index.today[i])]
        if not today:
            return Resolution(value, Succession.RETIRED)
        one_place = len(matched) == 1
        today.sort(key=lambda s: (-shares[s.boundary_id], s.path, s.osm_id))
        candidates = [
            Candidate(
                self.shown(s), round(min(shares[s.boundary_id], 1.0), 6) if one_place else None
            )
            for s in today
        ]
        if len(today) > 1 and one_place:
            kinds.add(Succession.SPLIT)
        status = next((str(k) for k in KIND_PRIORITY if k in kinds), Succession.RENAMED)
        one = candidates[0].boundary if len(candidates) == 1 else None
        return Resolution(value, status, one, candidates)


def resolve(
    values: Iterable[str], *, workspace: WorkspaceAccess, level: int | None = None
) -> list[Resolution]:
    """Tell what each stored value means today, in the workspace's boundaries.

    A value is read as an osm_id, a code of any scheme (p-code, ISO 3166-2,
    …), a path (``Rwanda > Kigali City > Gasabo``; case, accents and spacing
    do not matter; ``/``, ``,``, ``;`` or ``|`` also separate, the country may
    be left out and the order reversed), or a name or alias of the
    workspace. Today's boundaries are looked in first (status ``current``);
    then earlier states (old names, paths, osm_ids, codes) and retired
    boundaries, whose successors are followed across imports to today's,
    shares multiplied along the way.

    Parameters
    ----------
    values
        The stored values, in order; the answers come in the same order.
    workspace
        The workspace asking: only its country's boundaries (if it has one),
        and its aliases, which count as today's names.
    level
        Only boundaries of this level (0 to 3), when given.

    Returns
    -------
    list of Resolution
        One per value.
    """
    resolver = _Resolver(
        history_index(),
        aliases=lookup_data.aliases(workspace),
        country_id=workspace.country_id,
        level=level,
    )
    # A table repeats its values (every contact of a district): each is resolved once.
    answers: dict[str, Resolution] = {}
    results = []
    for value in values:
        answer = answers.get(value)
        if answer is None:
            answer = answers[value] = resolver.resolve(value)
        results.append(answer)
    return results


def today_path(resolution: Resolution, *, joiner: str = " | ") -> str:
    """Return the path a value stands for today, or its candidates' paths joined."""
    if resolution.boundary is not None:
        return resolution.boundary.path
    return joiner.join(candidate.boundary.path for candidate in resolution.candidates)

"""An in-memory, read-only snapshot of the boundary tree, indexed for matching.

Built once per process from the database (names and ids only, never
geometry) and swapped whole when an import commits, so a lookup never waits
on a query.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from geo.lookup.names import normalise_code, normalise_name, normalise_path, strip_level_words


def _lists() -> defaultdict[str, list[tuple[str, int]]]:
    # A named factory, not a lambda: the index is pickled into the shared index files.
    return defaultdict(list)


@dataclass(frozen=True, slots=True)
class Place:
    """A boundary as lookups see it."""

    id: int
    osm_id: str
    name: str
    name_en: str
    level: int
    parent_id: int | None
    country_id: int | None
    path: str
    # Names in other languages ``(language, name)``, variant names, and codes
    # ``(scheme, code)``, sorted: tuples, so a place stays hashable and small.
    names: tuple[tuple[str, str], ...] = ()
    other_names: tuple[str, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()

    def all_names(self) -> list[tuple[str, NameKind]]:
        """Every name the place goes by, with where it comes from: its own first, no repeats.

        The English name, names in other languages and variant names follow;
        a blank one, or one already given, is left out.
        """
        found: list[tuple[str, NameKind]] = [(self.name, "name")]
        seen = {self.name}
        others = [(self.name_en, "name_en")]
        others += [(text, "names") for _, text in self.names]
        others += [(text, "other_names") for text in self.other_names]
        for text, kind in others:
            if text and text not in seen:
                seen.add(text)
                found.append((text, kind))
        return found

    def name_in(self, language: str) -> str:
        """Return the place's name in ``language`` where it has one, else its own name."""
        return display_name(language, name=self.name, name_en=self.name_en, names=dict(self.names))


def display_name(language: str, *, name: str, name_en: str, names: dict[str, str]) -> str:
    """Return the name to show in ``language`` ("" or one the place lacks: ``name``).

    >>> display_name("fr", name="Kigali", name_en="Kigali", names={"fr": "Ville de Kigali"})
    'Ville de Kigali'
    >>> display_name("en", name="Umujyi wa Kigali", name_en="Kigali City", names={})
    'Kigali City'
    """
    if not language:
        return name
    found = names.get(language) or (name_en if language == "en" else "")
    if not found and "-" in language:
        found = names.get(language.split("-", 1)[0], "")  # "pt-br" falls back on "pt"
    return found or name


# How a key names a place: its name, its English name, a name in another language
# (``names``), a variant name (``other_names``), a code, or a workspace alias.
NameKind = str


@dataclass(slots=True)
class NameIndex:
    """Normalised key → places it names, per level, with buckets for typo search.

    Beside the keys themselves: each key without its spaces (``compact``, so
    "kigalicity" and "nyaru genge" find "Kigali City" and "Nyarugenge"), each
    key without its level words (``cores``: "kerry" for "County Kerry"), the
    longer keys and cores in which a run of words appears (``extensions``:
    "mato grosso" → ("mato grosso do sul", 0), so a typo in the longer name is
    not taken for the shorter one), the most words a key has and the words keys
    are made of, per level.
    """

    keys: dict[int, dict[str, list[tuple[int, NameKind]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # (level, first character) → keys and cores, so a typo search compares against few keys;
    # the same per country, for the usual scope of a workspace.
    buckets: dict[tuple[int, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    country_buckets: dict[tuple[int | None, int, str], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )
    compact: dict[int, dict[str, list[tuple[int, NameKind]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    cores: dict[int, dict[str, list[tuple[int, NameKind]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # Run of words → (longer key or core holding it, position of its first word there).
    extensions: dict[int, dict[str, list[tuple[str, int]]]] = field(
        default_factory=lambda: defaultdict(_lists)
    )
    longest: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # Every word of the level's keys: a run with another word cannot be a key or a core.
    words: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    _bucketed: set[tuple[int | None, int, str]] = field(default_factory=set)

    def add(
        self, *, level: int, text: str, place_id: int, kind: NameKind, country_id: int | None = None
    ) -> None:
        """Index ``text`` as a name of a place (of country ``country_id``)."""
        key = normalise_name(text)
        if not key:
            return
        self.longest[level] = max(self.longest[level], key.count(" ") + 1)
        self.words[level].update(key.split())
        _add_entry(self.compact[level], key.replace(" ", ""), place_id, kind)
        core = strip_level_words(key)
        terms = [(key, self.keys)]
        if core != key and len(core) >= MIN_CORE_LENGTH:
            terms.append((core, self.cores))
        for term, table in terms:
            entries = table[level].setdefault(term, [])
            if not entries:
                self._extend(level, term)
            if all(existing != place_id for existing, _ in entries):
                entries.append((place_id, kind))
            for scope in (None, country_id) if country_id is not None else (None,):
                if (scope, level, term) not in self._bucketed:
                    self._bucketed.add((scope, level, term))
                    if scope is None:
                        self.buckets[(level, term[0])].append(term)
                    else:
                        self.country_buckets[(scope, level, term[0])].append(term)

    def _extend(self, level: int, term: str) -> None:
        words = term.split()[:MAX_EXTENSION_WORDS]
        for size in range(1, len(words)):
            for start in range(len(words) - size + 1):
                self.extensions[level][" ".join(words[start : start + size])].append((term, start))

    def lookup(self, level: int, key: str) -> list[tuple[int, NameKind]]:
        """Return the places named exactly ``key`` at ``level``, in path order."""
        return self.keys.get(level, {}).get(key, [])

    def lookup_compact(self, level: int, key: str) -> list[tuple[int, NameKind]]:
        """Return the places whose name is ``key`` once spaces are removed from both."""
        return self.compact.get(level, {}).get(key, [])

    def lookup_core(self, level: int, key: str) -> list[tuple[int, NameKind]]:
        """Return the places whose name is ``key`` once level words are taken off."""
        return self.cores.get(level, {}).get(key, [])

    def sort(self, rank: dict[int, int]) -> None:
        """Order every key's places by ``rank`` (path order), so results need no sorting."""
        for table in (self.keys, self.compact, self.cores):
            for keys in table.values():
                for entries in keys.values():
                    entries.sort(key=lambda entry: rank.get(entry[0], 0))


# A core shorter than this ("no" of "No District") is too likely to be an everyday word.
MIN_CORE_LENGTH = 4
# Runs inside names longer than this are not indexed as extensions (no name is that long).
MAX_EXTENSION_WORDS = 12


def _add_entry(
    table: dict[str, list[tuple[int, NameKind]]], key: str, place_id: int, kind: NameKind
) -> None:
    entries = table.setdefault(key, [])
    if all(existing != place_id for existing, _ in entries):
        entries.append((place_id, kind))


class Hierarchy:
    """Every boundary, indexed by id, osm_id, normalised path and names."""

    def __init__(self, places: Iterable[Place], *, version: int = 0) -> None:
        self.version = version
        self.places: dict[int, Place] = {place.id: place for place in places}
        self.by_osm_id: dict[str, Place] = {place.osm_id: place for place in self.places.values()}
        self.by_path: dict[str, list[Place]] = defaultdict(list)
        # The ids of the places that have children.
        self.parents: frozenset[int] = frozenset(
            place.parent_id for place in self.places.values() if place.parent_id
        )
        self.names = NameIndex()
        # Codes, folded as ``normalise_code`` does, per level: (level, code) → place ids,
        # for matching ("RW02" finds "RW-02"); and casefolded as stored → (place id,
        # scheme), for finding by code exactly.
        self.code_keys: dict[tuple[int, str], list[int]] = defaultdict(list)
        self.by_code: dict[str, list[tuple[int, str]]] = defaultdict(list)
        # Position of each place in path order: results sort by an int, not a string.
        self.path_rank: dict[int, int] = {
            place.id: rank
            for rank, place in enumerate(
                sorted(self.places.values(), key=lambda p: (p.path, p.osm_id))
            )
        }
        for place in self.places.values():
            self.by_path[normalise_path(place.path)].append(place)
            for text, kind in place.all_names():
                self.names.add(
                    level=place.level,
                    text=text,
                    place_id=place.id,
                    kind=kind,
                    country_id=place.country_id,
                )
            for scheme, code in place.codes:
                self.by_code[code.casefold()].append((place.id, scheme))
                key = normalise_code(code)
                if matchable_code(key):
                    entries = self.code_keys[(place.level, key)]
                    if place.id not in entries:
                        entries.append(place.id)
        self.names.sort(self.path_rank)
        for entries in self.code_keys.values():
            entries.sort(key=self.path_rank.__getitem__)
        self.code_keys = dict(self.code_keys)
        self.by_code = dict(self.by_code)

    @classmethod
    def from_database(cls, *, version: int = 0) -> Hierarchy:
        """Load every current boundary's names, codes and links (no geometry; retired ones left out)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, osm_id, name, name_en, level, parent_id, country_id, path,"
                " names, other_names, codes FROM geo_boundary WHERE retired_at IS NULL"
            )
            return cls(
                (
                    Place(
                        id=pid,
                        osm_id=osm_id,
                        name=name,
                        name_en=name_en,
                        level=level,
                        parent_id=parent_id,
                        country_id=country_id,
                        path=path,
                        names=pairs(names),
                        other_names=tuple(others or ()),
                        codes=pairs(codes),
                    )
                    for (
                        pid,
                        osm_id,
                        name,
                        name_en,
                        level,
                        parent_id,
                        country_id,
                        path,
                        names,
                        others,
                        codes,
                    ) in cursor.fetchall()
                ),
                version=version,
            )

    def is_within(self, place: Place, ancestor_id: int) -> bool:
        """Tell whether ``ancestor_id`` is the place itself or one of its ancestors."""
        current: Place | None = place
        while current is not None:
            if current.id == ancestor_id:
                return True
            current = self.places.get(current.parent_id) if current.parent_id else None
        return False

    def parent_of(self, place: Place) -> Place | None:
        """Return the place's parent, if any."""
        return self.places.get(place.parent_id) if place.parent_id else None


def pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """Return a JSON object (text or decoded) of text values as sorted pairs."""
    mapping = json.loads(value) if isinstance(value, str) else value or {}
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items() if v))


# A code shorter than this, once folded, is too likely to be a reply ("1", "A");
# so is one of letters only up to SHORT_WORD_LENGTH ("OK" is Oklahoma's ref, "NO" another's).
MIN_CODE_LENGTH = 2
SHORT_WORD_LENGTH = 3


def matchable_code(key: str) -> bool:
    """Tell whether a folded code may be matched as a whole text (not a likely reply).

    >>> matchable_code("rw02"), matchable_code("q3294"), matchable_code("01")
    (True, True, True)
    >>> matchable_code("ok"), matchable_code("yes"), matchable_code("rwkv"), matchable_code("7")
    (False, False, True, False)
    """
    if len(key) < MIN_CODE_LENGTH:
        return False
    return len(key) > SHORT_WORD_LENGTH or any(char.isdigit() for char in key)


def alias_index(hierarchy: Hierarchy, aliases: Iterable[tuple[int, str]]) -> NameIndex:
    """Index a workspace's aliases ``(boundary id, alias)`` by the level of their boundary."""
    index = NameIndex()
    for boundary_id, alias in aliases:
        place = hierarchy.places.get(boundary_id)
        if place is not None:
            index.add(
                level=place.level,
                text=alias,
                place_id=place.id,
                kind="alias",
                country_id=place.country_id,
            )
    index.sort(hierarchy.path_rank)
    return index

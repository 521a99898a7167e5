"""Frozen values passed between the import stages.

discover → parse → (plan, repair, simplify) → load. Every stage but ``load``
is pure; each hands the next one of these types, never a loose dict.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import shapely

# C0 and C1 controls (tab, newline and carriage return included), DEL and lone
# UTF-16 surrogates: none is printable, PostgreSQL cannot store NUL, and a
# surrogate cannot be encoded for it at all.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str, *, limit: int = 200) -> str:
    r"""Return ``text`` safe for one line of a report and for PostgreSQL.

    Unprintable characters become escapes (``\\x00``, ``\\ud800``) and text
    longer than ``limit`` is cut with an ellipsis and its length.

    >>> printable("R1\\x00")
    'R1\\\\x00'
    """
    escaped = UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
    if len(escaped) > limit:
        return f"{escaped[:limit]}… ({len(escaped)} characters)"
    return escaped


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One GeoJSON file chosen for import.

    ``group`` names the set of files it belongs to: the relation id of
    ``R<id>admin<N>.json`` files, or the folder or zip of ``admin_level_<N>.json``
    files. ``read`` returns its bytes (from disk or from inside a zip).
    """

    label: str
    group: str
    level: int
    simplified: bool
    # The country relation id the file name promises (None for admin_level files).
    country_key: str | None
    read: Callable[[], bytes] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one feature (or a whole file, when ``index`` is None)."""

    file: str
    message: str
    index: int | None = None
    osm_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.index is not None:
            where.append(f"feature {self.index}")
        if self.osm_id:
            where.append(f"osm_id {self.osm_id}")
        if self.field:
            where.append(f"field '{self.field}'")
        # Every part may come from the input: one printable line, whatever it holds.
        return printable(f"{', '.join(where)}: {self.message}", limit=1000)


class GeometryState(StrEnum):
    """What parsing made of a feature's geometry."""

    MISSING = "missing"  # null, {} or empty coordinates in the source
    BUILT = "built"  # parsed and checked, ready to repair
    UNCHANGED = "unchanged"  # same digest as the stored boundary: not rebuilt


@dataclass(frozen=True, slots=True)
class SourceFeature:
    """One feature as read from a file, properties cleaned, geometry unrepaired."""

    file: str
    index: int
    level: int
    osm_id: str
    name: str
    name_en: str
    parent_ref: str | None
    country_ref: str | None
    geometry_digest: str
    geometry_state: GeometryState
    geometry: shapely.MultiPolygon | None
    from_simplified: bool
    # (language, name) pairs of names in other languages, sorted by language.
    names: tuple[tuple[str, str], ...] = ()
    # Variant names of no particular language.
    other_names: tuple[str, ...] = ()
    # (scheme, code) pairs, sorted by scheme: pcode, iso3166_2, gid, shape_id, wikidata, ref.
    codes: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class ParsedFile:
    """The features of one file, its problems, and the quirks met on the way."""

    source: SourceFile
    features: list[SourceFeature]
    problems: list[Problem]
    quirks: Counter[str]
    # Set when the file's content was parsed (not rebuilt from a record).
    content_digest: str = ""


class Change(StrEnum):
    """Kinds of change an import makes to a boundary."""

    ADDED = "added"
    RENAMED = "renamed"
    REKEYED = "rekeyed"
    MOVED = "moved"
    GEOMETRY = "geometry changed"
    UPDATED = "updated"
    # Left its source: kept, but no longer current (see ``BoundaryLink``).
    RETIRED = "retired"
    # Retired before, back in the source under the same osm_id.
    RESTORED = "restored"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One line of an import's diff."""

    change: Change
    osm_id: str
    level: int
    path: str
    detail: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.change:<16} L{self.level} {self.osm_id:<12} {self.path}{detail}"


@dataclass(frozen=True, slots=True)
class Successor:
    """A current boundary that took ``share`` of a retired one's area, and how."""

    osm_id: str
    name: str
    path: str
    # A ``geo.models.Succession``: split, merged, renamed, rekeyed.
    kind: str
    share: float


def describe_successors(kind: str, successors: tuple[Successor, ...]) -> str:
    """Say in a few words where a retired boundary went (a diff line's detail).

    >>> describe_successors("split", (Successor("R1", "A", "X > A", "split", 0.6),
    ...                               Successor("R2", "B", "X > B", "split", 0.4)))
    'split into A 60%, B 40%'
    """
    if not successors:
        return "no successor"
    parts = ", ".join(f"{s.name} {s.share:.0%}" for s in successors)
    verbs = {"split": "split into", "merged": "merged into"}
    return f"{verbs.get(kind, kind + ' to')} {parts}"


@dataclass(slots=True)
class ImportReport:
    """What a run read, found, changed (or would change, for a dry run)."""

    run_id: int
    dry_run: bool
    files: list[str]
    features_read: int = 0
    # Files whose bytes were parsed; the others matched an earlier import's record.
    files_parsed: int = 0
    # Boundaries whose simplified geometry was (re)computed.
    simplified: int = 0
    quirks: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    diff: list[DiffEntry] = field(default_factory=list)
    # Where each retired boundary went, by its osm_id: (kind, successors).
    successors: dict[str, tuple[str, tuple[Successor, ...]]] = field(default_factory=dict)
    # A dry run's changed boundaries as GeoJSON features, before and after (see preview).
    previews: list[dict[str, Any]] = field(default_factory=list)
    # One line per file read: its feature count and whether it was parsed.
    file_lines: list[str] = field(default_factory=list)
    # What the run decided about odd input it took (which copy of a reused id it kept).
    notes: list[str] = field(default_factory=list)
    # Every feature of the run that did not change (for per-feature detail).
    unchanged_entries: list[DiffEntry] = field(default_factory=list)
    total_after: int = 0
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        """How many features of the run were already stored exactly as read."""
        return len(self.unchanged_entries)

    @property
    def made_new_version(self) -> bool:
        """Tell whether the run committed a new version of the boundaries (lookups, tiles)."""
        return not self.dry_run and (self.changed or self.simplified > 0)

    @property
    def changed(self) -> bool:
        """Whether the run changed (or would change) any boundary."""
        return bool(self.diff)

    def counts(self) -> Counter[str]:
        """Diff entries counted by kind of change."""
        return Counter(str(entry.change) for entry in self.diff)

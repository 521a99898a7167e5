"""Decide what an import changes: the pure planning stage.

Given the parsed features and a snapshot of what is stored (no geometry), the
planner resolves parents, merges the extracts' self-parented duplicates,
matches features to stored boundaries (by ``osm_id``, else by parent and name),
works out which boundaries retire (leave their source) or come back, paths
and the diff. It touches no database.

Retired boundaries are part of the snapshot (``osm_id`` stays unique across
current and retired rows): a feature with a retired boundary's ``osm_id``
restores it. They are never matched by parent and name, never anyone's
parent, and never retired again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from geo.importing.sources import same_relation
from geo.importing.types import (
    Change,
    DiffEntry,
    GeometryState,
    Problem,
    SourceFeature,
    SourceFile,
)
from geo.models import PATH_SEPARATOR

MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class StoredBoundary:
    """A stored boundary, as much of it as planning needs (no geometry)."""

    id: int
    osm_id: str
    name: str
    name_en: str
    level: int
    parent_id: int | None
    country_id: int | None
    path: str
    geometry_digest: str
    alias_count: int = 0
    workspace_count: int = 0
    simplification: str = ""
    names: tuple[tuple[str, str], ...] = ()
    other_names: tuple[str, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    retired: bool = False


@dataclass(slots=True)
class PlannedBoundary:
    """A boundary as it will be after the run."""

    osm_id: str
    name: str
    name_en: str
    level: int
    parent_osm_id: str | None
    stored: StoredBoundary | None = None
    feature: SourceFeature | None = None
    country_osm_id: str = ""
    path: str = ""
    geometry_changed: bool = False
    names: tuple[tuple[str, str], ...] = ()
    other_names: tuple[str, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()

    @property
    def in_run(self) -> bool:
        """Whether this run read a feature for the boundary."""
        return self.feature is not None


@dataclass(slots=True)
class ImportPlan:
    """Everything the load stage needs, and the diff a dry run prints."""

    boundaries: dict[str, PlannedBoundary] = field(default_factory=dict)
    # Current boundaries that left their source: the run retires them.
    retired: list[StoredBoundary] = field(default_factory=list)
    diff: list[DiffEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    quirks: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    # Decisions about odd input that was taken (which copy of a reused id was kept).
    notes: list[str] = field(default_factory=list)
    # (country osm_id, level) of every coverage that must be simplified again.
    dirty_groups: set[tuple[str, int]] = field(default_factory=set)

    def group_members(
        self, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], list[PlannedBoundary]]:
        """Group the boundaries simplified together: one country's boundaries of one level.

        A whole level, not just one parent's children: districts either side
        of a state border are neighbours too, and must stay joined.
        """
        wanted = set(keys)
        groups: dict[tuple[str, int], list[PlannedBoundary]] = {}
        for planned in self.boundaries.values():
            key = (planned.country_osm_id, planned.level)
            if key in wanted:
                groups.setdefault(key, []).append(planned)
        return groups


def boundary_name(feature: SourceFeature) -> str:
    """Choose the display name as RapidPro does: ``name_en`` first for countries."""
    if feature.level == 0:
        return feature.name_en or feature.name or feature.osm_id
    return feature.name or feature.name_en or feature.osm_id


def plan_import(
    features: Sequence[SourceFeature],
    *,
    sources: Sequence[SourceFile],
    stored: Iterable[StoredBoundary],
    country: str | None = None,
    skip_invalid: bool = False,
    broken: Collection[str] = frozenset(),
    simplification: str = "",
) -> ImportPlan:
    """Plan a run; problems go to ``plan.problems`` (the caller decides to stop or skip).

    ``broken`` names features left out for problems already reported: their
    children are not reported again for a missing parent.
    """
    plan = ImportPlan()
    every_by_osm = {row.osm_id: row for row in stored}
    # Only current boundaries can be parents, countries or matched by name.
    stored_by_osm = {k: row for k, row in every_by_osm.items() if not row.retired}
    stored_by_id = {row.id: row for row in stored_by_osm.values()}
    run = _deduplicate(features, plan, stored_by_osm)

    # A parent may be in the run or already stored; check both before anything else.
    valid = _resolve_parents(
        run,
        stored_by_osm,
        plan,
        skip_invalid=skip_invalid,
        broken=broken,
        retired=frozenset(k for k, row in every_by_osm.items() if row.retired),
    )
    countries = _countries(valid, stored_by_osm, stored_by_id)
    if country:
        kept = {k: f for k, f in valid.items() if same_relation(countries.get(k, ""), country)}
        plan.skipped.extend(
            f"{f.file}: feature {f.index} ({k}) is not in country {country}"
            for k, f in valid.items()
            if k not in kept
        )
        valid = kept

    # A retired boundary back in its source (same osm_id) is restored: it keeps its row.
    restored = {k: every_by_osm[k] for k in valid if k in every_by_osm and every_by_osm[k].retired}
    rekeys = _rekeys(
        {k: f for k, f in valid.items() if k not in restored}, stored_by_osm, stored_by_id
    )
    matched_stored = {stored_by_osm[k].id for k in valid if k in stored_by_osm}
    matched_stored.update(rekeys.values())
    id_to_osm = {row.id: row.osm_id for row in stored_by_id.values()}
    for new_osm, stored_id in rekeys.items():
        id_to_osm[stored_id] = new_osm

    supplied = _supplied_levels(sources, valid, countries, stored_by_osm)
    boundaries = plan.boundaries
    for row in [*stored_by_id.values(), *restored.values()]:
        osm = id_to_osm.get(row.id, row.osm_id)
        boundaries[osm] = PlannedBoundary(
            osm_id=osm,
            name=row.name,
            name_en=row.name_en,
            level=row.level,
            parent_osm_id=id_to_osm.get(row.parent_id) if row.parent_id else None,
            stored=row,
            names=row.names,
            other_names=row.other_names,
            codes=row.codes,
        )
    for osm_id, feature in valid.items():
        planned = boundaries.get(osm_id)
        if planned is None:
            planned = boundaries[osm_id] = PlannedBoundary(
                osm_id=osm_id, name="", name_en="", level=feature.level, parent_osm_id=None
            )
        planned.feature = feature
        planned.name = boundary_name(feature)
        planned.name_en = feature.name_en
        planned.level = feature.level
        planned.parent_osm_id = feature.parent_ref
        planned.names = feature.names
        planned.other_names = feature.other_names
        planned.codes = feature.codes

    _retire_unseen(plan, supplied, matched_stored, id_to_osm)
    _check_stored_children(plan)
    _assign_paths(plan)
    _diff(plan, rekeys, stored_by_id | {row.id: row for row in restored.values()})
    # Simplified with another method or tolerance: simplify that coverage again.
    plan.dirty_groups.update(
        (b.country_osm_id, b.level)
        for b in boundaries.values()
        if b.in_run
        and b.stored is not None
        and simplification
        and b.stored.simplification != simplification
    )
    return plan


def _deduplicate(
    features: Sequence[SourceFeature],
    plan: ImportPlan,
    stored_by_osm: dict[str, StoredBoundary],
) -> dict[str, SourceFeature]:
    """Keep one feature per ``osm_id``: the extracts list some places more than once.

    Identical repeats at one level are kept once. Copies at several levels are
    placements of one place (posm-extracts list small islands as states of
    their country and again as districts of another state, or repeat a state
    as its own district): the deepest placement whose parent exists above it
    (in the run or stored) is kept, as long as it stays above the features
    that name it as their parent; the others are counted and noted.
    """
    by_id: dict[str, list[SourceFeature]] = defaultdict(list)
    for feature in features:
        by_id[feature.osm_id].append(feature)
    child_levels: dict[str, int] = {}
    for feature in features:
        ref = feature.parent_ref
        if ref is not None and ref != feature.osm_id:
            child_levels[ref] = min(child_levels.get(ref, MAX_DEPTH), feature.level)

    def parent_levels(ref: str) -> set[int]:
        levels = {copy.level for copy in by_id.get(ref, ())}
        if ref in stored_by_osm:
            levels.add(stored_by_osm[ref].level)
        return levels

    run: dict[str, SourceFeature] = {}
    for osm_id, copies in by_id.items():
        if len(copies) == 1:
            run[osm_id] = copies[0]
            continue
        placements = _placements(osm_id, copies, plan)
        kept = _deepest_placement(
            osm_id,
            placements,
            below=child_levels.get(osm_id, MAX_DEPTH),
            parent_levels=parent_levels,
        )
        if kept is None:
            first = copies[0]
            plan.problems.extend(
                Problem(
                    other.file,
                    f"osm_id also used by {first.file} feature {first.index} (level {first.level}), "
                    "and no copy has a parent above it",
                    index=other.index,
                    osm_id=osm_id,
                    field="osm_id",
                )
                for other in placements.values()
                if other is not first
            )
            run[osm_id] = first
            continue
        for other in placements.values():
            if other is kept:
                continue
            if other.parent_ref == osm_id:
                # A state repeated as its own district (Guernsey, Malta): one place, kept once.
                plan.quirks["self_parented_duplicate"] += 1
                continue
            plan.quirks["id_at_two_levels"] += 1
            plan.notes.append(
                f"{osm_id} ({boundary_name(kept)}): kept at level {kept.level} under "
                f"{kept.parent_ref} ({kept.file} feature {kept.index}); left out its level "
                f"{other.level} copy under {other.parent_ref} ({other.file} feature {other.index})"
            )
        run[osm_id] = kept
    return run


def _deepest_placement(
    osm_id: str,
    placements: dict[int, SourceFeature],
    *,
    below: int,
    parent_levels: Callable[[str], set[int]],
) -> SourceFeature | None:
    """Pick the deepest copy above level ``below`` whose parent exists above it."""

    def placed(copy: SourceFeature) -> bool:
        if copy.level >= below:
            return False
        if copy.level == 0:
            return True
        ref = copy.parent_ref
        return (
            ref is not None
            and ref != osm_id
            and any(level < copy.level for level in parent_levels(ref))
        )

    usable = [copy for copy in placements.values() if placed(copy)]
    return max(usable, key=lambda f: f.level) if usable else None


def _placements(
    osm_id: str, copies: list[SourceFeature], plan: ImportPlan
) -> dict[int, SourceFeature]:
    """One copy per level; a repeat at one level must be identical (else it is a problem)."""
    copies.sort(key=lambda f: (f.level, f.file, f.index))
    placements: dict[int, SourceFeature] = {}
    for copy in copies:
        same = placements.setdefault(copy.level, copy)
        if same is copy:
            continue
        if same.geometry_digest == copy.geometry_digest and same.parent_ref == copy.parent_ref:
            plan.quirks["repeated_feature"] += 1
        else:
            plan.problems.append(
                Problem(
                    copy.file,
                    f"osm_id also used by {same.file} feature {same.index} at the same level "
                    f"({copy.level}), with another parent or geometry",
                    index=copy.index,
                    osm_id=osm_id,
                    field="osm_id",
                )
            )
    return placements


def _resolve_parents(
    run: dict[str, SourceFeature],
    stored_by_osm: dict[str, StoredBoundary],
    plan: ImportPlan,
    *,
    skip_invalid: bool,
    broken: Collection[str],
    retired: Collection[str] = frozenset(),
) -> dict[str, SourceFeature]:
    valid = dict(run)
    cycles = _cycles(run)
    reported: list[Problem] = []
    for feature in sorted(run.values(), key=lambda f: (f.level, f.osm_id)):
        if feature.osm_id not in valid or feature.parent_ref in broken:
            continue
        problem = cycles.get(feature.osm_id) or _parent_problem(
            feature, valid, stored_by_osm, retired=retired
        )
        if problem is None or any(problem is seen for seen in reported):
            continue
        reported.append(problem)
        if skip_invalid:
            plan.skipped.append(str(problem))
            _drop_with_descendants(valid, feature.osm_id)
        else:
            plan.problems.append(problem)
    return valid


def _cycles(run: dict[str, SourceFeature]) -> dict[str, Problem]:
    """Map each feature whose parents lead back to itself to its cycle's one problem.

    The problem names every member of the cycle with its file and feature.
    """
    cycles: dict[str, Problem] = {}
    done: set[str] = set()
    for start in sorted(run):
        chain: list[str] = []
        current: str | None = start
        while current is not None and current in run and current not in done:
            if current in chain:
                loop = chain[chain.index(current) :]
                if len(loop) == 1:  # "names itself as its parent" says it better
                    break
                first = loop.index(min(loop))
                loop = loop[first:] + loop[:first]
                feature = run[loop[0]]
                steps = " → ".join(
                    f"{member} ({run[member].file} feature {run[member].index})" for member in loop
                )
                problem = Problem(
                    feature.file,
                    f"parent cycle: {steps} → {loop[0]}",
                    index=feature.index,
                    osm_id=feature.osm_id,
                    field=_parent_field(feature.level),
                )
                cycles.update(dict.fromkeys(loop, problem))
                break
            chain.append(current)
            current = run[current].parent_ref
        done.update(chain)
    return cycles


def _parent_field(level: int) -> str:
    return "parent_id / is_in_country" if level == 1 else "parent_id / is_in_state"


def _parent_problem(
    feature: SourceFeature,
    run: dict[str, SourceFeature],
    stored_by_osm: dict[str, StoredBoundary],
    *,
    retired: Collection[str] = frozenset(),
) -> Problem | None:
    if feature.level == 0:
        return None
    field_name = _parent_field(feature.level)
    ref = feature.parent_ref
    if ref is None:
        message = f"level {feature.level} feature has no parent"
    elif ref == feature.osm_id:
        message = "names itself as its parent"
    else:
        parent_level = (
            run[ref].level
            if ref in run
            else stored_by_osm[ref].level
            if ref in stored_by_osm
            else None
        )
        if parent_level is None and ref in retired:
            message = f"parent {ref} was retired (it left its source); import it again too"
        elif parent_level is None:
            message = f"parent {ref} exists nowhere (not in this run, not imported before)"
        elif parent_level >= feature.level:
            message = f"parent {ref} is at level {parent_level}, not above level {feature.level}"
        else:
            return None
    return Problem(
        feature.file, message, index=feature.index, osm_id=feature.osm_id, field=field_name
    )


def _check_stored_children(plan: ImportPlan) -> None:
    """Refuse a run that moves a stored boundary to or below one of its stored children.

    Those children are not in the run, so they keep their parent; the run
    would leave them above it (and a parent chain may then loop).
    """
    boundaries = plan.boundaries
    for planned in boundaries.values():
        parent = boundaries.get(planned.parent_osm_id) if planned.parent_osm_id else None
        if planned.in_run or parent is None or parent.feature is None:
            continue
        if parent.level >= planned.level:
            feature = parent.feature
            plan.problems.append(
                Problem(
                    feature.file,
                    f"moves to level {feature.level}, at or below its stored child "
                    f"{planned.osm_id} (level {planned.level}); import that child's level too",
                    index=feature.index,
                    osm_id=feature.osm_id,
                    field=_parent_field(feature.level),
                )
            )


def _drop_with_descendants(valid: dict[str, SourceFeature], osm_id: str) -> None:
    doomed = {osm_id}
    changed = True
    while changed:
        changed = False
        for key, feature in valid.items():
            if key not in doomed and feature.parent_ref in doomed:
                doomed.add(key)
                changed = True
    for key in doomed:
        valid.pop(key, None)


def _countries(
    run: dict[str, SourceFeature],
    stored_by_osm: dict[str, StoredBoundary],
    stored_by_id: dict[int, StoredBoundary],
) -> dict[str, str]:
    """Map each run feature's osm_id to its country's osm_id, walking up parents."""
    result: dict[str, str] = {}
    for osm_id in run:
        current: str | None = osm_id
        for _ in range(MAX_DEPTH + 1):
            if current is None:
                break
            if current in run:
                feature = run[current]
                if feature.level == 0:
                    result[osm_id] = current
                    break
                current = feature.parent_ref
            elif current in stored_by_osm:
                row = stored_by_osm[current]
                country = stored_by_id.get(row.country_id) if row.country_id else None
                result[osm_id] = country.osm_id if country else row.osm_id
                break
            else:
                break
    return result


def _rekeys(
    run: dict[str, SourceFeature],
    stored_by_osm: dict[str, StoredBoundary],
    stored_by_id: dict[int, StoredBoundary],
) -> dict[str, int]:
    """Map new osm_ids to the stored rows they re-key (same parent and name)."""
    unmatched: dict[tuple[int | None, int, str], list[StoredBoundary]] = defaultdict(list)
    for row in stored_by_id.values():
        if row.osm_id not in run:
            unmatched[(row.parent_id, row.level, row.name.casefold())].append(row)
    rekeys: dict[str, int] = {}
    for osm_id, feature in run.items():
        if osm_id in stored_by_osm or feature.level == 0 or feature.parent_ref not in stored_by_osm:
            continue
        parent = stored_by_osm[feature.parent_ref]
        candidates = unmatched.get((parent.id, feature.level, boundary_name(feature).casefold()))
        # Only an unambiguous match is a re-key; two same-named siblings are not guessed at.
        if candidates and len(candidates) == 1:
            rekeys[osm_id] = candidates.pop().id
    return rekeys


def _supplied_levels(
    sources: Sequence[SourceFile],
    run: dict[str, SourceFeature],
    countries: dict[str, str],
    stored_by_osm: dict[str, StoredBoundary],
) -> set[tuple[str, int]]:
    """(country osm_id, level) pairs whose whole content this run supplies."""
    known_countries = [k for k, f in run.items() if f.level == 0]
    known_countries += [k for k, row in stored_by_osm.items() if row.level == 0]
    supplied: set[tuple[str, int]] = set()
    for source in sources:
        if source.country_key:
            supplied.update(
                (osm_id, source.level)
                for osm_id in known_countries
                if same_relation(osm_id, source.country_key)
            )
    for osm_id, feature in run.items():
        if osm_id in countries:
            supplied.add((countries[osm_id], feature.level))
    return supplied


def _retire_unseen(
    plan: ImportPlan, supplied: set[tuple[str, int]], matched: set[int], id_to_osm: dict[int, str]
) -> None:
    """Retire the current boundaries missing from a file supplied for their country and level."""
    boundaries = plan.boundaries
    country_of = {}
    for planned in boundaries.values():
        row = planned.stored
        if row is not None and row.country_id is not None:
            country_of[planned.osm_id] = id_to_osm.get(row.country_id, "")
    doomed: set[str] = set()
    for osm_id, planned in boundaries.items():
        row = planned.stored
        if row is None or row.id in matched or planned.in_run or row.retired:
            continue
        if (country_of.get(osm_id, ""), row.level) in supplied:
            doomed.add(osm_id)
    # Whatever hangs below a retired boundary and was not re-supplied retires with it.
    changed = True
    while changed:
        changed = False
        for osm_id, planned in boundaries.items():
            if osm_id not in doomed and not planned.in_run and planned.parent_osm_id in doomed:
                doomed.add(osm_id)
                changed = True
    for osm_id in sorted(doomed, key=lambda k: -boundaries[k].level):
        planned = boundaries.pop(osm_id)
        assert planned.stored is not None
        plan.retired.append(planned.stored)
    for planned in boundaries.values():
        if planned.parent_osm_id in doomed and planned.feature is not None:
            feature = planned.feature
            plan.problems.append(
                Problem(
                    feature.file,
                    f"parent {planned.parent_osm_id} is missing from the file supplied for its level",
                    index=feature.index,
                    osm_id=feature.osm_id,
                    field="parent_id / is_in_state",
                )
            )


def _assign_paths(plan: ImportPlan) -> None:
    boundaries = plan.boundaries
    names = Counter((b.parent_osm_id, b.name.casefold()) for b in boundaries.values() if b.in_run)
    duplicates = sum(n for n in names.values() if n > 1)
    if duplicates:
        plan.quirks["duplicate_sibling_name"] += duplicates
    for planned in sorted(boundaries.values(), key=lambda b: b.level):
        parent = boundaries.get(planned.parent_osm_id) if planned.parent_osm_id else None
        if parent is None:
            planned.path = planned.name
            planned.country_osm_id = planned.osm_id
        else:
            planned.path = parent.path + PATH_SEPARATOR + planned.name
            planned.country_osm_id = parent.country_osm_id


def _diff(
    plan: ImportPlan, rekeys: dict[str, int], stored_by_id: dict[int, StoredBoundary]
) -> None:
    boundaries = plan.boundaries
    for planned in boundaries.values():
        feature, row = planned.feature, planned.stored
        if feature is None:
            continue
        group = (planned.country_osm_id, planned.level)
        if row is None:
            planned.geometry_changed = feature.geometry_state is not GeometryState.MISSING
            plan.diff.append(DiffEntry(Change.ADDED, planned.osm_id, planned.level, planned.path))
            plan.dirty_groups.add(group)
            continue
        if row.retired:
            # Restored: every coverage it joins is simplified again, with it.
            planned.geometry_changed = (
                feature.geometry_state is not GeometryState.UNCHANGED
                and feature.geometry_digest != row.geometry_digest
            )
            plan.diff.append(
                DiffEntry(
                    Change.RESTORED,
                    planned.osm_id,
                    planned.level,
                    planned.path,
                    f"was {row.path!r}" if row.path != planned.path else "",
                )
            )
            plan.dirty_groups.add(group)
            continue
        if planned.osm_id in rekeys:
            plan.diff.append(
                DiffEntry(
                    Change.REKEYED, planned.osm_id, planned.level, planned.path, f"was {row.osm_id}"
                )
            )
        if planned.name != row.name:
            plan.diff.append(
                DiffEntry(
                    Change.RENAMED, planned.osm_id, planned.level, planned.path, f"was {row.name!r}"
                )
            )
        old_parent = stored_by_id.get(row.parent_id) if row.parent_id else None
        old_parent_osm = old_parent.osm_id if old_parent else None
        new_parent = boundaries.get(planned.parent_osm_id) if planned.parent_osm_id else None
        new_parent_stored_id = new_parent.stored.id if new_parent and new_parent.stored else None
        if row.parent_id != new_parent_stored_id:
            plan.diff.append(
                DiffEntry(
                    Change.MOVED,
                    planned.osm_id,
                    planned.level,
                    planned.path,
                    f"from {old_parent_osm}",
                )
            )
            plan.dirty_groups.add(group)
            plan.dirty_groups.add((_osm_of(row.country_id, stored_by_id), row.level))
        if (
            feature.geometry_state is not GeometryState.UNCHANGED
            and feature.geometry_digest != row.geometry_digest
        ):
            planned.geometry_changed = True
            plan.diff.append(
                DiffEntry(Change.GEOMETRY, planned.osm_id, planned.level, planned.path)
            )
            plan.dirty_groups.add(group)
        if (
            planned.name_en != row.name_en
            or planned.level != row.level
            or (planned.names, planned.other_names, planned.codes)
            != (row.names, row.other_names, row.codes)
        ):
            plan.diff.append(DiffEntry(Change.UPDATED, planned.osm_id, planned.level, planned.path))
    for row in plan.retired:
        detail = f"{row.alias_count} aliases" if row.alias_count else ""
        plan.diff.append(DiffEntry(Change.RETIRED, row.osm_id, row.level, row.path, detail))
        plan.dirty_groups.add((_osm_of(row.country_id, stored_by_id), row.level))
    plan.diff.sort(key=lambda e: (e.level, e.path, str(e.change)))


def _osm_of(stored_id: int | None, stored_by_id: dict[int, StoredBoundary]) -> str:
    row = stored_by_id.get(stored_id) if stored_id is not None else None
    return row.osm_id if row else ""

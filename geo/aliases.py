"""The only writer of workspace aliases."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from geo.exceptions import AliasConflict, BoundaryNotFound, InvalidQuery
from geo.lookup.names import normalise_name
from geo.models import Boundary, BoundaryAlias, Workspace
from geo.workspaces import forget_cached_tokens

MAX_ALIAS_LENGTH = 255
MAX_ALIASES = 100


def clean_aliases(raw: Sequence[object]) -> list[str]:
    """Trim, drop blanks and case/accent-insensitive duplicates, keep the first spelling.

    Raises
    ------
    InvalidQuery
        An alias is not text, is too long, or folds to nothing.
    """
    if len(raw) > MAX_ALIASES:
        raise InvalidQuery(f"aliases: at most {MAX_ALIASES} per boundary")
    cleaned: dict[str, str] = {}
    for position, value in enumerate(raw):
        if not isinstance(value, str):
            raise InvalidQuery(f"aliases[{position}]: must be a string")
        alias = " ".join(value.split())
        if not alias:
            continue
        if len(alias) > MAX_ALIAS_LENGTH:
            raise InvalidQuery(f"aliases[{position}]: longer than {MAX_ALIAS_LENGTH} characters")
        key = normalise_name(alias)
        if not key:
            raise InvalidQuery(f"aliases[{position}]: {alias!r} has no letters or digits to match")
        cleaned.setdefault(key, alias)
    return list(cleaned.values())


@transaction.atomic
def set_aliases(*, workspace: Workspace, osm_id: str, aliases: Sequence[object]) -> list[str]:
    """Replace a workspace's aliases of one boundary; return them, sorted.

    An alias must not name a sibling (same parent) in the same workspace,
    by its name or by another alias: RapidPro moves such an alias silently;
    here the request is refused and the sibling named.

    Raises
    ------
    BoundaryNotFound
        No boundary with that osm_id in the workspace's country.
    InvalidQuery
        A malformed alias.
    AliasConflict
        An alias already names a sibling.
    """
    boundary = (
        Boundary.objects.filter(osm_id=osm_id)
        .only("id", "parent_id", "country_id", "level")
        .first()
    )
    if boundary is None or (workspace.country_id and boundary.country_id != workspace.country_id):
        raise BoundaryNotFound(f"no boundary {osm_id!r} in this workspace")
    wanted = clean_aliases(aliases)
    siblings = Boundary.objects.filter(parent_id=boundary.parent_id, level=boundary.level).exclude(
        pk=boundary.pk
    )
    if boundary.parent_id is None:
        siblings = siblings.none()
    taken: dict[str, str] = {}
    for name, name_en in siblings.values_list("name", "name_en"):
        for text in (name, name_en):
            if text:
                taken[normalise_name(text)] = f"the name of {name}"
    for alias, sibling in BoundaryAlias.objects.filter(
        workspace=workspace, boundary__in=siblings
    ).values_list("name", "boundary__name"):
        taken[normalise_name(alias)] = f"an alias of {sibling}"
    conflicts = [
        f"{alias!r} is already {taken[normalise_name(alias)]}"
        for alias in wanted
        if normalise_name(alias) in taken
    ]
    if conflicts:
        raise AliasConflict(
            "aliases must be unique among siblings in a workspace: " + "; ".join(conflicts)
        )
    BoundaryAlias.objects.filter(workspace=workspace, boundary=boundary).delete()
    BoundaryAlias.objects.bulk_create(
        BoundaryAlias(workspace=workspace, boundary=boundary, name=a) for a in wanted
    )
    Workspace.objects.filter(pk=workspace.pk).update(aliases_version=F("aliases_version") + 1)
    # This process sees the new version at once; other workers within TOKEN_CACHE_SECONDS.
    forget_cached_tokens()
    return sorted(wanted, key=str.casefold)

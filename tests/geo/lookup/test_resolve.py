"""geo.lookup.resolve: stored values (paths, ids, codes, names) to today's boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from geo.aliases import set_aliases
from geo.lookup.resolve import Resolution, resolve
from geo.models import Boundary, BoundaryLink, Workspace
from geo.workspaces import WorkspaceAccess, create_workspace
from tests.history import build_history_world

pytestmark = pytest.mark.django_db


def access_of(workspace: Workspace) -> WorkspaceAccess:
    return WorkspaceAccess(
        workspace.pk, workspace.name, workspace.country_id, workspace.aliases_version
    )


@pytest.fixture
def tinyland(tmp_path: Path) -> WorkspaceAccess:
    """A workspace bound to Tinyland, after its history was written."""
    build_history_world(tmp_path)
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    set_aliases(workspace=workspace, osm_id="R121", aliases=["Gammaville"])
    workspace.refresh_from_db()
    return access_of(workspace)


def one(value: str, access: WorkspaceAccess, level: int | None = None) -> Resolution:
    (resolution,) = resolve([value], workspace=access, level=level)
    return resolution


def summary(resolution: Resolution) -> tuple[str, str | None, list[tuple[str, float | None]]]:
    return (
        resolution.status,
        resolution.boundary.osm_id if resolution.boundary else None,
        [(c.boundary.osm_id, c.share) for c in resolution.candidates],
    )


@pytest.mark.parametrize(
    "value",
    [
        "Tinyland > West > Alpha",
        "tinyland>WEST >  alpha",
        "Tînyland > Wést > ÁLPHA.",
        "Tinyland / West / Alpha",
        "Alpha, West, Tinyland",
        "West > Alpha",
        "R111",
        "alpha",
    ],
)
def test_todays_boundary_by_path_osm_id_or_name(tinyland: WorkspaceAccess, value: str) -> None:
    """Paths in any spacing, case, separator or order, osm_ids and names are current."""
    assert summary(one(value, tinyland)) == ("current", "R111", [])


def test_codes_and_aliases_are_current(tinyland: WorkspaceAccess) -> None:
    """A p-code of today, and a workspace alias, name today's boundary."""
    assert summary(one("tl0112", tinyland)) == ("current", "R112", [])
    assert summary(one("GAMMAVILLE", tinyland)) == ("current", "R121", [])


@pytest.mark.parametrize(
    ("value", "status", "today"),
    [
        ("Tinyland > Westland > Oldalpha", "renamed", "R111"),
        ("Oldalpha", "renamed", "R111"),
        ("Eldest", "renamed", "R111"),
        ("Tinyland > Westland", "renamed", "R11"),
        ("Tinyland > Westland > Beta", "renamed", "R112"),
        ("R9112", "rekeyed", "R112"),
        ("TL9112", "rekeyed", "R112"),
        ("Tinyland > Westland > Gamma", "moved", "R121"),
        ("Tinyland > West > Gamma", "moved", "R121"),
        ("Sigma", "merged", "R122"),
        ("R141", "merged", "R122"),
    ],
)
def test_past_states_lead_to_todays_boundary(
    tinyland: WorkspaceAccess, value: str, status: str, today: str
) -> None:
    """Old names, paths, keys and codes give today's boundary and what happened to it."""
    resolution = one(value, tinyland)
    assert (resolution.status, resolution.boundary and resolution.boundary.osm_id) == (
        status,
        today,
    )
    assert resolution.boundary is not None
    assert resolution.boundary.path == Boundary.objects.get(osm_id=today).path


def test_a_split_gives_candidates_most_share_first(tinyland: WorkspaceAccess) -> None:
    """A split boundary has no one answer: its successors, with the share each took."""
    assert summary(one("Tinyland > East > Omega", tinyland)) == (
        "split",
        None,
        [("R121", 0.6), ("R122", 0.4)],
    )


def test_links_are_followed_across_imports(tinyland: WorkspaceAccess) -> None:
    """Kappa merged into Lambda (run 1), Lambda split in halves (run 2): shares multiply."""
    assert summary(one("Kappa", tinyland)) == ("split", None, [("R111", 0.5), ("R112", 0.5)])


def test_retired_and_unknown(tinyland: WorkspaceAccess) -> None:
    """Retired with no successor is ``retired``; a value nobody ever used is ``unknown``."""
    assert summary(one("R150", tinyland)) == ("retired", None, [])
    assert summary(one("Nowhere", tinyland)) == ("unknown", None, [])
    assert summary(one("   ", tinyland)) == ("unknown", None, [])


def test_level_limits_what_a_value_may_be(tinyland: WorkspaceAccess) -> None:
    """With a level, a value of another level is unknown."""
    assert one("Alpha", tinyland, level=2).status == "current"
    assert one("Alpha", tinyland, level=1).status == "unknown"


def test_workspace_scope_and_ambiguous_names(tinyland: WorkspaceAccess) -> None:
    """A country's workspace sees its Alpha only; an every-country one gets both as candidates."""
    world, _ = create_workspace(name="world")
    assert summary(one("Alpha", access_of(world))) == (
        "current",
        None,
        [("R211", None), ("R111", None)],
    )
    assert one("R211", tinyland).status == "unknown"
    assert one("Otherland > North > Alpha", tinyland).status == "unknown"


def test_answers_keep_the_order_of_the_values(tinyland: WorkspaceAccess) -> None:
    """One answer per value, in order, duplicates included."""
    values = ["R111", "Sigma", "R111", "Nowhere"]
    assert [r.value for r in resolve(values, workspace=tinyland)] == values


def test_a_batch_costs_one_freshness_query_once_indexed(
    tinyland: WorkspaceAccess, django_assert_max_num_queries: Any
) -> None:
    """Once the index is built, resolving a batch checks the history's newest ids and no more
    (the snapshot's own version check may add one)."""
    resolve(["R111"], workspace=tinyland)
    with django_assert_max_num_queries(2):
        resolve(["Kappa", "Tinyland > Westland > Oldalpha", "TL9112", "Nowhere"] * 50,
                workspace=tinyland)  # fmt: skip


def test_new_history_rows_are_seen_at_once(tinyland: WorkspaceAccess) -> None:
    """A link written after the index was built is followed on the next call."""
    assert one("R150", tinyland).status == "retired"
    zeta, delta = Boundary.objects.get(osm_id="R150"), Boundary.objects.get(osm_id="R122")
    BoundaryLink.objects.create(predecessor=zeta, successor=delta, kind="merged")
    assert summary(one("R150", tinyland)) == ("merged", "R122", [("R122", 1.0)])

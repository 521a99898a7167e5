"""An import never forgets: retired boundaries, earlier versions, successions, the change log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connections
from django.db.models import F

from geo.exceptions import InvalidInput, RemovalRefused
from geo.importing import import_geojson
from geo.importing.load import IMPORT_LOCK_KEY
from geo.importing.types import ImportReport
from geo.models import (
    Boundary,
    BoundaryAlias,
    BoundaryChange,
    BoundaryLink,
    BoundaryVersion,
    ImportRun,
    Workspace,
)
from tests.builders import changing_country, collection, feature, square, write

pytestmark = pytest.mark.django_db

# The diff of stage 1 → 2 of ``changing_country``, as (change, osm_id, detail).
STAGE_2_DIFF = [
    ("renamed", "R12", "was 'East'"),
    ("retired", "R123", "merged into Etatheta 100%"),
    ("retired", "R124", "merged into Etatheta 100%"),
    ("moved", "R112", "from R11"),
    ("geometry changed", "R122", ""),
    ("added", "R125", ""),
    ("rekeyed", "W121", "was R121"),
    ("renamed", "R111", "was 'Alpha'"),
    ("added", "R1132", ""),
    ("added", "R1131", ""),
    ("retired", "R113", "split into Eps East 50%, Eps West 50%"),
    ("retired", "R115", "no successor; 1 aliases"),
]


def lines(report: ImportReport) -> list[tuple[str, str, str]]:
    return [(str(e.change), e.osm_id, e.detail) for e in report.diff]


def history_rows() -> tuple[object, ...]:
    """Everything an import writes, to prove a dry run wrote nothing."""
    return (
        list(
            Boundary.with_geometry.order_by("id").values_list(
                "id",
                "osm_id",
                "name",
                "path",
                "parent_id",
                "retired_at",
                "valid_from",
                "updated_at",
            )
        ),
        BoundaryVersion.objects.count(),
        BoundaryLink.objects.count(),
        BoundaryChange.objects.count(),
    )


@pytest.fixture
def first(tmp_path: Path) -> Path:
    """Stage 1 imported, with a workspace alias on Iota (which stage 2 retires)."""
    folder = changing_country(tmp_path / "files", stage=1)
    import_geojson([folder])
    workspace = Workspace.objects.create(name="w")
    BoundaryAlias.objects.create(
        workspace=workspace, boundary=Boundary.objects.get(osm_id="R115"), name="Iotta"
    )
    return folder


def test_retiring_aliased_boundaries_is_refused_without_the_flag(first: Path) -> None:
    """Retiring Iota would stop its alias matching: refused, nothing written, the message says retire."""
    before = history_rows()
    changing_country(first, stage=2)
    with pytest.raises(RemovalRefused, match=r"would retire 1 boundaries .*R115, 1 aliases"):
        import_geojson([first])
    assert history_rows() == before


def test_dry_run_reports_successions_and_writes_nothing(first: Path) -> None:
    """A dry run's diff names successors and shares as the real run will; nothing is kept."""
    before = history_rows()
    changing_country(first, stage=2)
    dry = import_geojson([first], dry_run=True, allow_alias_removal=True)
    assert lines(dry) == STAGE_2_DIFF
    assert history_rows() == before
    real = import_geojson([first], allow_alias_removal=True)
    assert lines(real) == STAGE_2_DIFF
    record = ImportRun.objects.get(pk=real.run_id).diff["changes"]
    split = next(c for c in record if c["osm_id"] == "R113")
    assert split["succession"] == "split"
    assert [(s["osm_id"], s["share"]) for s in split["successors"]] == [
        ("R1132", 0.5),
        ("R1131", 0.5),
    ]


# Committed imports: an import's lock is released when it commits (not so
# inside a test's transaction), so another session can take it.
@pytest.mark.django_db(transaction=True)
def test_a_dry_run_beside_a_running_import_says_where_it_stopped(first: Path) -> None:
    """Another import holds the lock: the dry run lists the retirements, notes why no successors."""
    changing_country(first, stage=2)
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK_KEY])
        assert cursor.fetchone() == (True,)
    try:
        dry = import_geojson([first], dry_run=True, allow_alias_removal=True)
    finally:
        other.close()  # ends its session, and its lock
    assert [(change, osm_id) for change, osm_id, _ in lines(dry)] == [
        (change, osm_id) for change, osm_id, _ in STAGE_2_DIFF
    ]
    assert ("retired", "R115", "1 aliases") in lines(dry)
    assert dry.notes[-1].endswith("another import is running")


def test_retired_boundaries_are_kept_and_linked_to_their_successors(first: Path) -> None:
    """Split halves take 0.5 each, a merge's parts 1.0 of themselves, a lost district none."""
    changing_country(first, stage=2)
    report = import_geojson([first], allow_alias_removal=True)
    retired = Boundary.objects.filter(retired_at__isnull=False)
    assert sorted(retired.values_list("osm_id", flat=True)) == ["R113", "R115", "R123", "R124"]
    assert {b.retired_by_id for b in retired} == {report.run_id}
    # Kept as they were: name, path, geometry, aliases.
    iota = Boundary.with_geometry.get(osm_id="R115")
    assert (iota.name, iota.path, iota.geometry is not None) == (
        "Iota",
        "Changeland > West > Iota",
        True,
    )
    assert BoundaryAlias.objects.get().boundary_id == iota.pk
    assert not iota.shapes.exists()

    def links(osm_id: str) -> list[tuple[str, str | None, float]]:
        return [
            (link.kind, link.successor.osm_id if link.successor else None, link.share)
            for link in BoundaryLink.objects.filter(predecessor__osm_id=osm_id).order_by(
                "successor__osm_id"
            )
        ]

    split = links("R113")
    assert [(kind, osm_id) for kind, osm_id, _ in split] == [
        ("split", "R1131"),
        ("split", "R1132"),
    ]
    assert [share for *_, share in split] == [pytest.approx(0.5, abs=1e-6)] * 2
    assert links("R123") == [("merged", "R125", pytest.approx(1.0, abs=1e-6))]
    assert links("R124") == [("merged", "R125", pytest.approx(1.0, abs=1e-6))]
    assert links("R115") == [("retired", None, 0.0)]
    assert {link.import_run_id for link in BoundaryLink.objects.all()} == {report.run_id}


def test_changed_boundaries_keep_their_earlier_state(first: Path) -> None:
    """Renamed, moved, re-keyed, reshaped, and paths changed by an ancestor's rename: one version each."""
    alpha = Boundary.with_geometry.get(osm_id="R111")
    delta_before = Boundary.with_geometry.get(osm_id="R122")
    changing_country(first, stage=2)
    report = import_geojson([first], allow_alias_removal=True)
    run = ImportRun.objects.get(pk=report.run_id)
    versions = {v.boundary.osm_id: v for v in BoundaryVersion.objects.select_related("boundary")}
    # Kappa changed only by its state's rename; Etatheta's parts and the halves are new.
    assert sorted(versions) == ["R111", "R112", "R12", "R122", "R126", "W121"]
    old_alpha = versions["R111"]
    assert (old_alpha.osm_id, old_alpha.name, old_alpha.path) == (
        "R111",
        "Alpha",
        "Changeland > West > Alpha",
    )
    assert old_alpha.valid_from == alpha.valid_from
    assert old_alpha.ended_by_id == run.pk
    assert versions["W121"].osm_id == "R121"
    assert versions["R112"].parent.osm_id == "R11"  # type: ignore[union-attr]
    assert versions["R126"].path == "Changeland > East > Kappa"
    assert versions["R122"].geometry.equals(delta_before.geometry)  # type: ignore[union-attr, arg-type]
    assert versions["R122"].simplified_geometry is not None
    alfa = Boundary.objects.get(osm_id="R111")
    assert alfa.valid_from == versions["R111"].valid_to
    assert alfa.valid_from > alpha.valid_from  # type: ignore[operator]
    # Unchanged boundaries keep their valid_from and get no version.
    assert (
        Boundary.objects.get(osm_id="R11").valid_from
        == Boundary.objects.get(osm_id="R1").valid_from
    )
    # The same place under a new name, parent or key is its own successor.
    assert sorted(
        (link.predecessor.osm_id, link.kind, link.share)
        for link in BoundaryLink.objects.filter(successor_id=F("predecessor_id"))
    ) == [
        ("R111", "renamed", 1.0),
        ("R112", "moved", 1.0),
        ("R12", "renamed", 1.0),
        ("W121", "rekeyed", 1.0),
    ]


def test_the_change_log_lists_every_change_with_what_it_replaced(first: Path) -> None:
    """One row per change: renamed with the old name, moved with the old path, re-keyed with the old key."""
    changing_country(first, stage=2)
    report = import_geojson([first], allow_alias_removal=True)
    logged = {
        (c.kind, c.osm_id): c.was
        for c in BoundaryChange.objects.filter(import_run_id=report.run_id)
    }
    assert logged == {
        ("renamed", "R12"): {"name": "East", "path": "Changeland > East"},
        ("merged", "R123"): {},
        ("merged", "R124"): {},
        ("moved", "R112"): {"path": "Changeland > West > Beta"},
        ("geometry", "R122"): {},
        ("added", "R125"): {},
        ("rekeyed", "W121"): {"osm_id": "R121"},
        ("renamed", "R111"): {"name": "Alpha", "path": "Changeland > West > Alpha"},
        ("added", "R1131"): {},
        ("added", "R1132"): {},
        ("split", "R113"): {},
        ("retired", "R115"): {},
    }


def test_a_retired_boundary_back_in_its_source_is_restored(first: Path) -> None:
    """Same osm_id again: the same row comes back current, its aliases with it; its retired
    state is kept as a version ending when it was retired."""
    iota = Boundary.objects.get(osm_id="R115")
    changing_country(first, stage=2)
    second = import_geojson([first], allow_alias_removal=True)
    retired_at = Boundary.objects.get(osm_id="R115").retired_at
    changing_country(first, stage=3)
    third = import_geojson([first])
    assert lines(third) == [("restored", "R115", "")]
    back = Boundary.objects.get(osm_id="R115")
    assert back.pk == iota.pk
    assert (back.retired_at, back.retired_by_id) == (None, None)
    version = BoundaryVersion.objects.get(boundary=back)
    assert (version.valid_to, version.ended_by_id) == (retired_at, second.run_id)
    assert BoundaryChange.objects.get(import_run_id=third.run_id).kind == "restored"
    assert back.shapes.exists()
    # Again current: a later run that leaves it out retires it again, and only it.
    changing_country(first, stage=2)
    fourth = import_geojson([first], allow_alias_removal=True)
    assert lines(fourth) == [("retired", "R115", "no successor; 1 aliases")]


def test_a_retired_boundary_is_never_matched_by_name_nor_retired_twice(first: Path) -> None:
    """A new id beside a retired same-named sibling is added, not a re-key of the retired row."""
    changing_country(first, stage=2)
    import_geojson([first], allow_alias_removal=True)
    retired = list(
        Boundary.objects.filter(retired_at__isnull=False).values_list("id", "retired_at")
    )
    admin2 = first / "R1admin2.json"
    features = json.loads(admin2.read_text())["features"]
    features.append(feature("R1199", "Iota", coordinates=square(1, 1), country="R1", state="R11"))
    write(first, "R1admin2.json", collection(*features))
    report = import_geojson([first])
    assert lines(report) == [("added", "R1199", "")]
    assert Boundary.objects.get(osm_id="R1199").pk != Boundary.objects.get(osm_id="R115").pk
    # The retired rows are left as they were: not retired again by a run that lacks them.
    assert (
        list(Boundary.objects.filter(retired_at__isnull=False).values_list("id", "retired_at"))
        == retired
    )


def test_a_renamed_place_under_a_new_key_is_linked_as_renamed(first: Path) -> None:
    """One successor covering the same land under another name and key: renamed, share 1."""
    admin2 = first / "R1admin2.json"
    admin2.write_text(
        admin2.read_text().replace('"R126", "name": "Kappa"', '"R127", "name": "Kapa"'),
        encoding="utf-8",
    )
    report = import_geojson([first])
    assert [(c, o) for c, o, _ in lines(report)] == [("added", "R127"), ("retired", "R126")]
    assert lines(report)[1][2] == "renamed to Kapa 100%"
    link = BoundaryLink.objects.get(predecessor__osm_id="R126")
    assert (link.kind, link.successor.osm_id, link.share) == (  # type: ignore[union-attr]
        "renamed",
        "R127",
        pytest.approx(1.0),
    )


def test_a_feature_under_a_retired_parent_is_refused_naming_it(first: Path) -> None:
    """A retired boundary is nobody's parent: the problem says it was retired."""
    changing_country(first, stage=2)
    import_geojson([first], allow_alias_removal=True)
    write(
        first,
        "R1admin3.json",
        collection(
            feature("R11301", "Ward", coordinates=square(1, 0, 0.5), country="R1", parent_id="R113")
        ),
    )
    with pytest.raises(InvalidInput, match="parent R113 was retired"):
        import_geojson([first])


def test_a_country_filter_leaves_other_countries_retired_boundaries_alone(
    first: Path, tmp_path: Path
) -> None:
    """--country R2 over files that also bring Iota back: R1's retired boundary stays retired."""
    changing_country(first, stage=2)
    import_geojson([first], allow_alias_removal=True)
    stage_3 = changing_country(tmp_path / "stage3", stage=3)
    # admin_level_<N> files hold every country's features: the filter works feature by feature.
    mixed = tmp_path / "mixed"
    for level in range(3):
        features = json.loads((stage_3 / f"R1admin{level}.json").read_text())["features"]
        if level == 0:
            features.append(feature("R2", "Otherland", coordinates=square(9, 9)))
        write(mixed, f"admin_level_{level}.json", collection(*features))
    report = import_geojson([mixed], country="R2")
    assert lines(report) == [("added", "R2", "")]
    assert Boundary.objects.get(osm_id="R115").retired_at is not None

from __future__ import annotations

import gc
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from geo.exceptions import ImportInProgress, InvalidInput, NoInput, RemovalRefused
from geo.importing import import_geojson, run
from geo.importing.load import IMPORT_LOCK_KEY, RUN_LOCK_CLASS, settle_abandoned_runs
from geo.importing.types import SourceFile
from geo.logs import ContextFilter
from geo.models import Boundary, BoundaryAlias, GeometrySource, ImportRun, ImportStatus, Workspace
from tests.builders import collection, feature, square, tiny_country, write
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db


def rewrite(path: Path, edit: object) -> None:
    """Apply ``edit(features)`` to the features of a written collection."""
    data = json.loads(path.read_text())
    edit(data["features"])  # type: ignore[operator]
    path.write_text(json.dumps(data))


def snapshot() -> list[tuple[object, ...]]:
    return list(
        Boundary.objects.order_by("osm_id").values_list(
            "id", "osm_id", "name", "parent__osm_id", "path", "updated_at"
        )
    )


def test_imports_hierarchy_paths_and_geometry(tmp_path: Path) -> None:
    """A country, its states and districts land with parents, paths, geometry and bboxes."""
    report = import_geojson([tiny_country(tmp_path)])
    assert report.counts() == {"added": 7}
    assert Boundary.objects.filter(level=0).count() == 1
    gamma = Boundary.with_geometry.get(osm_id="R121")
    assert gamma.path == "Tinyland > East > Gamma"
    assert gamma.parent is not None and gamma.parent.osm_id == "R12"
    assert gamma.country is not None and gamma.country.osm_id == "R1"
    assert gamma.geometry_source == GeometrySource.FULL
    assert (gamma.bbox_west, gamma.bbox_south, gamma.bbox_east, gamma.bbox_north) == (
        1.0,
        0.0,
        2.0,
        1.0,
    )
    assert gamma.area_km2 == pytest.approx(12364, rel=1e-2)
    assert gamma.geometry is not None and gamma.simplified_geometry is not None
    assert gamma.simplified_geometry.num_coords < gamma.geometry.num_coords
    country = Boundary.objects.get(osm_id="R1")
    assert country.country_id == country.pk
    run = ImportRun.objects.get(pk=report.run_id)
    assert run.status == ImportStatus.SUCCEEDED
    assert run.counts["changes"] == {"added": 7}


def test_default_manager_does_not_load_geometry(
    tmp_path: Path, django_assert_num_queries: object
) -> None:
    """Name queries never fetch the geometry columns."""
    import_geojson([tiny_country(tmp_path)])
    boundary = Boundary.objects.get(osm_id="R121")
    assert set(boundary.get_deferred_fields()) == {"geometry", "simplified_geometry"}


def test_identical_reimport_changes_nothing_and_says_so(tmp_path: Path) -> None:
    """A second identical run writes nothing and is recorded as unchanged."""
    import_geojson([tiny_country(tmp_path)])
    before = snapshot()
    report = import_geojson([tmp_path])
    assert report.changed is False
    assert report.unchanged == 7
    assert snapshot() == before
    assert ImportRun.objects.get(pk=report.run_id).status == ImportStatus.UNCHANGED


def test_rename_keeps_the_boundary_and_descendant_paths_follow(tmp_path: Path) -> None:
    """Renaming a state keeps its row; its districts' paths follow."""
    import_geojson([tiny_country(tmp_path)])
    east_id = Boundary.objects.get(osm_id="R12").pk

    def rename(features: list[dict]) -> None:
        features[1]["properties"]["name"] = "Orient"

    rewrite(tmp_path / "R1admin1.json", rename)
    report = import_geojson([tmp_path])
    assert [(str(e.change), e.osm_id) for e in report.diff] == [("renamed", "R12")]
    assert Boundary.objects.get(osm_id="R12").pk == east_id
    assert Boundary.objects.get(osm_id="R122").path == "Tinyland > Orient > Delta"


def test_rekeyed_boundary_keeps_its_row_and_aliases(tmp_path: Path) -> None:
    """A new osm_id with the same parent and name re-keys the row instead of replacing it."""
    import_geojson([tiny_country(tmp_path)])
    alpha = Boundary.objects.get(osm_id="R111")
    workspace = Workspace.objects.create(name="w")
    BoundaryAlias.objects.create(workspace=workspace, boundary=alpha, name="Alfa")

    def rekey(features: list[dict]) -> None:
        features[0]["properties"]["osm_id"] = "W999"

    rewrite(tmp_path / "R1admin2.json", rekey)
    report = import_geojson([tmp_path])
    assert [(str(e.change), e.osm_id, e.detail) for e in report.diff] == [
        ("rekeyed", "W999", "was R111")
    ]
    assert Boundary.objects.get(osm_id="W999").pk == alpha.pk
    assert BoundaryAlias.objects.get().boundary_id == alpha.pk


def test_moved_boundary_changes_parent_and_path(tmp_path: Path) -> None:
    """A district whose parent changes is moved, and its path follows."""
    import_geojson([tiny_country(tmp_path)])

    def move(features: list[dict]) -> None:
        features[2]["properties"]["is_in_state"] = "R11"

    rewrite(tmp_path / "R1admin2.json", move)
    report = import_geojson([tmp_path])
    assert [(str(e.change), e.osm_id, e.detail) for e in report.diff] == [
        ("moved", "R121", "from R12")
    ]
    assert Boundary.objects.get(osm_id="R121").path == "Tinyland > West > Gamma"


def test_retirement_only_for_levels_the_run_supplied(tmp_path: Path) -> None:
    """Importing the state file alone retires no districts; a district file without one retires it."""
    import_geojson([tiny_country(tmp_path)])
    report = import_geojson([tmp_path / "R1admin1.json"])
    assert report.changed is False
    assert Boundary.objects.count() == 7

    rewrite(tmp_path / "R1admin2.json", lambda features: features.pop())
    report = import_geojson([tmp_path])
    assert [(str(e.change), e.osm_id) for e in report.diff] == [("retired", "R122")]
    delta = Boundary.objects.get(osm_id="R122")
    assert delta.retired_at is not None
    assert delta.retired_by_id == report.run_id


def test_retiring_aliased_boundaries_needs_the_flag(tmp_path: Path) -> None:
    """Retiring boundaries whose aliases would stop matching stops the run, unless allowed."""
    import_geojson([tiny_country(tmp_path)])
    workspace = Workspace.objects.create(name="w")
    BoundaryAlias.objects.create(
        workspace=workspace, boundary=Boundary.objects.get(osm_id="R122"), name="D"
    )
    rewrite(tmp_path / "R1admin2.json", lambda features: features.pop())
    before = snapshot()
    with pytest.raises(RemovalRefused, match=r"R122, 1 aliases\).*--allow-alias-removal"):
        import_geojson([tmp_path])
    assert snapshot() == before
    assert ImportRun.objects.order_by("-pk").first().status == ImportStatus.FAILED  # type: ignore[union-attr]

    import_geojson([tmp_path], allow_alias_removal=True)
    assert Boundary.objects.get(osm_id="R122").retired_at is not None
    # Kept with the retired boundary: they match again if it comes back.
    assert BoundaryAlias.objects.get().boundary.osm_id == "R122"


def test_workspace_country_is_never_retired(tmp_path: Path) -> None:
    """A country a workspace uses cannot be retired, flag or not."""
    import_geojson([tiny_country(tmp_path)])
    Workspace.objects.create(name="w", country=Boundary.objects.get(osm_id="R1"))
    write(tmp_path, "R1admin0.json", collection(feature("R2", "Other", coordinates=square(5, 5))))
    with pytest.raises(RemovalRefused, match="country of a workspace"):
        import_geojson([tmp_path / "R1admin0.json"], allow_alias_removal=True)


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    """--dry-run reports what would change and leaves the database as it was."""
    import_geojson([tiny_country(tmp_path)])
    rewrite(tmp_path / "R1admin2.json", lambda features: features.pop())
    before = snapshot()
    report = import_geojson([tmp_path], dry_run=True)
    assert [(str(e.change), e.osm_id) for e in report.diff] == [("retired", "R122")]
    assert snapshot() == before
    assert ImportRun.objects.get(pk=report.run_id).status == ImportStatus.DRY_RUN


def test_broken_input_stops_the_run_and_changes_nothing(tmp_path: Path) -> None:
    """An unknown parent and a bad coordinate each get a line; nothing is written."""
    import_geojson([tiny_country(tmp_path)])
    before = snapshot()
    write(
        tmp_path,
        "R1admin2.json",
        collection(
            feature("R111", "Alpha", coordinates=square(0, 0), country="R1", state="R404"),
            feature(
                "R112",
                "Beta",
                coordinates=[[[0, 0], [1, 0], [1, 95], [0, 0]]],
                country="R1",
                state="R11",
            ),
        ),
    )
    with pytest.raises(InvalidInput) as caught:
        import_geojson([tmp_path])
    problems = caught.value.problems
    assert any(
        "R1admin2.json, feature 1, osm_id R112, field 'geometry.coordinates'" in p for p in problems
    )
    assert any(
        "feature 0, osm_id R111, field 'parent_id / is_in_state': parent R404 exists nowhere" in p
        for p in problems
    )
    assert snapshot() == before


def test_skip_invalid_imports_the_rest(tmp_path: Path) -> None:
    """--skip-invalid imports valid features and lists what it skipped."""
    write(tmp_path, "R1admin0.json", collection(feature("R1", "Land", coordinates=square(0, 0, 4))))
    write(
        tmp_path,
        "R1admin1.json",
        collection(
            feature("R11", "Good", coordinates=square(0, 0), country="R1"),
            feature("R12", "Orphan", coordinates=square(1, 0), country="R9"),
            feature(
                "R13",
                "Line",
                geometry={"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                country="R1",
            ),
        ),
    )
    report = import_geojson([tmp_path], skip_invalid=True)
    assert sorted(Boundary.objects.values_list("osm_id", flat=True)) == ["R1", "R11"]
    assert len(report.skipped) == 2


def test_self_parented_duplicates_are_merged(tmp_path: Path) -> None:
    """An admin2 copy of an admin1 feature naming itself as parent (Guernsey) is kept once."""
    write(
        tmp_path, "R1admin0.json", collection(feature("R1", "Isles", coordinates=square(0, 0, 2)))
    )
    write(
        tmp_path,
        "R1admin1.json",
        collection(feature("R11", "Sark", coordinates=square(0, 0), country="R1")),
    )
    write(
        tmp_path,
        "R1admin2.json",
        collection(feature("R11", "Sark", coordinates=square(0, 0), country="R1", state="R11")),
    )
    report = import_geojson([tmp_path])
    assert report.quirks["self_parented_duplicate"] == 1
    assert Boundary.objects.get(osm_id="R11").level == 1


def test_concurrent_import_is_refused_or_waits(tmp_path: Path) -> None:
    """While another import holds the lock, a run refuses clearly, or waits with wait=True."""
    tiny_country(tmp_path)
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [IMPORT_LOCK_KEY])
        with pytest.raises(ImportInProgress, match=r"another import is running.*--wait"):
            import_geojson([tmp_path])
        assert not Boundary.objects.exists()
        threading.Timer(
            0.5, lambda: other.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK_KEY])
        ).start()
        started = time.monotonic()
        import_geojson([tmp_path], wait=True)
        assert time.monotonic() - started >= 0.4
    assert Boundary.objects.count() == 7


@pytest.mark.django_db(transaction=True)
def test_killed_import_leaves_nothing_behind(posm_extracts: Path) -> None:
    """SIGKILL in the middle of a run keeps none of its work; the next run marks it abandoned."""
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings")
    files = sorted(
        str(p) for p in posm_extracts.glob("R2202162admin*.json")
    )  # France: a few seconds of work
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_geojson", *files], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = ImportRun.objects.filter(status=ImportStatus.RUNNING).first()
            if run and run.progress_stage in {"repair", "simplify", "write"}:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the import never reached its geometry stages")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not Boundary.objects.exists()

    # Whoever reads the runs sees it abandoned once PostgreSQL has seen the process go
    # (its connection closed, the run's liveness lock freed), without waiting for an import.
    deadline = time.monotonic() + 20
    while ImportRun.objects.get(pk=run.pk).status == ImportStatus.RUNNING:
        assert time.monotonic() < deadline, "the killed run was never settled"
        settle_abandoned_runs()
        time.sleep(0.1)
    assert ImportRun.objects.get(pk=run.pk).status == ImportStatus.ABANDONED

    folder = ROOT / "fixtures" / "sample"
    import_geojson([folder])
    assert ImportRun.objects.get(pk=run.pk).status == ImportStatus.ABANDONED


@pytest.mark.django_db(transaction=True)
def test_a_live_run_is_never_settled_as_abandoned(tmp_path: Path) -> None:
    """Only a run whose liveness lock is free (its process gone) is marked abandoned."""
    settings = connection.settings_dict
    alive = ImportRun.objects.create(status=ImportStatus.RUNNING)
    dead = ImportRun.objects.create(status=ImportStatus.RUNNING)
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    ) as process:  # fmt: skip
        process.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, alive.pk])
        assert settle_abandoned_runs() == 1
        assert ImportRun.objects.get(pk=alive.pk).status == ImportStatus.RUNNING
        assert ImportRun.objects.get(pk=dead.pk).status == ImportStatus.ABANDONED
    # The connection is gone, and with it the lock (once its backend has ended).
    deadline = time.monotonic() + 5
    while settle_abandoned_runs() == 0:
        assert time.monotonic() < deadline, "the lock outlived its connection"
        time.sleep(0.05)
    assert ImportRun.objects.get(pk=alive.pk).status == ImportStatus.ABANDONED
    # A run that ended normally gave its lock back: nothing is left to settle.
    import_geojson([tiny_country(tmp_path)])
    assert settle_abandoned_runs() == 0
    assert ImportRun.objects.filter(status=ImportStatus.SUCCEEDED).count() == 1
    # Monitoring counts a dead run as abandoned from the first scrape after it died.
    ImportRun.objects.create(status=ImportStatus.RUNNING)
    scraped = Client().get("/metrics").content.decode()
    assert 'mipaka_import_runs{status="abandoned"} 3.0' in scraped
    assert 'status="running"' not in scraped
    # So does the admin's list of runs.
    dead = ImportRun.objects.create(status=ImportStatus.RUNNING)
    admin = Client()
    admin.force_login(User.objects.create_superuser("operator", password="x"))
    assert admin.get("/admin/geo/importrun/").status_code == 200
    assert ImportRun.objects.get(pk=dead.pk).status == ImportStatus.ABANDONED


def test_unchanged_files_are_not_parsed_again(tmp_path: Path) -> None:
    """Byte-identical files are rebuilt from the earlier run's record, not parsed."""
    first = import_geojson([tiny_country(tmp_path)])
    assert first.files_parsed == 3
    again = import_geojson([tmp_path])
    assert again.files_parsed == 0
    assert again.features_read == 7
    assert again.changed is False


def test_a_record_is_trusted_only_while_the_stored_geometry_matches(tmp_path: Path) -> None:
    """Re-importing older content after newer content parses it again and restores it."""
    tiny_country(tmp_path)
    import_geojson([tmp_path])
    original = (tmp_path / "R1admin2.json").read_text()

    def shift(features: list[dict]) -> None:
        features[0]["geometry"]["coordinates"] = square(0, 0, 0.5)

    rewrite(tmp_path / "R1admin2.json", shift)
    assert [str(e.change) for e in import_geojson([tmp_path]).diff] == ["geometry changed"]
    (tmp_path / "R1admin2.json").write_text(original)
    report = import_geojson([tmp_path])
    assert report.files_parsed == 1
    assert [(str(e.change), e.osm_id) for e in report.diff] == [("geometry changed", "R111")]
    alpha = Boundary.with_geometry.get(osm_id="R111")
    assert alpha.geometry is not None
    assert alpha.geometry.area == pytest.approx(1.0)


def two_countries_as_level_files(folder: Path) -> Path:
    """Newer posm output: admin_level_<N> files holding two countries, integer ids, parent_id."""
    write(
        folder,
        "admin_level_0_simplified.json",
        collection(
            feature(1, "None", name_en="Oneland", coordinates=square(0, 0, 2)),
            feature(2, "Twoland", coordinates=square(5, 5, 2)),
        ),
    )
    write(
        folder,
        "admin_level_1_simplified.json",
        collection(
            feature(11, "One North", country=1, parent_id=1, coordinates=square(0, 0)),
            feature(21, "Two North", country=2, parent_id=2, coordinates=square(5, 5)),
        ),
    )
    return folder


def test_level_files_with_a_country_filter_import_one_country(tmp_path: Path) -> None:
    """--country picks one country's features out of admin_level files holding several."""
    report = import_geojson([two_countries_as_level_files(tmp_path)], country="R1")
    assert sorted(Boundary.objects.values_list("osm_id", "path")) == [
        ("1", "Oneland"),
        ("11", "Oneland > One North"),
    ]
    assert len(report.skipped) == 2
    assert report.quirks["integer_id"] == 4

    import_geojson([tmp_path])
    assert Boundary.objects.count() == 4
    import_geojson([tmp_path], country="1")  # R1's files again: Twoland is not touched
    assert Boundary.objects.count() == 4


def test_zip_archives_import_end_to_end(tmp_path: Path) -> None:
    """A zip of a country's files imports like the folder it came from."""
    folder = tiny_country(tmp_path / "src")
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"geojson/{path.name}")
    report = import_geojson([archive])
    assert report.counts() == {"added": 7}
    assert Boundary.objects.get(osm_id="R122").path == "Tinyland > East > Delta"


def test_a_new_tolerance_simplifies_again_without_other_changes(tmp_path: Path) -> None:
    """Changing the tolerance re-simplifies unchanged boundaries; the same tolerance does not."""
    import_geojson([tiny_country(tmp_path)], tolerance_deg=0.001)
    fine = Boundary.with_geometry.get(osm_id="R121").simplified_geometry
    same = import_geojson([tmp_path], tolerance_deg=0.001)
    assert (same.changed, same.simplified) == (False, 0)
    coarse_run = import_geojson([tmp_path], tolerance_deg=0.05)
    assert coarse_run.changed is False
    assert coarse_run.simplified == 7
    coarse = Boundary.with_geometry.get(osm_id="R121")
    assert coarse.simplification.endswith("@0.05")
    assert fine is not None and coarse.simplified_geometry is not None
    assert coarse.simplified_geometry.num_coords <= fine.num_coords
    assert ImportRun.objects.get(pk=coarse_run.run_id).status == ImportStatus.SUCCEEDED


ISLAND = feature("R13", "Isle", country="R1", coordinates=square(0.2, 0.2, 0.1))


def with_island(folder: Path, *, district_parent: str = "R11") -> Path:
    """tiny_country, plus an island listed as a state of R1 and again as a district."""
    tiny_country(folder)
    rewrite(folder / "R1admin1.json", lambda features: features.append(ISLAND))
    district = feature(
        "R13", "Isle", country="R1", state=district_parent, coordinates=square(0.2, 0.2, 0.1)
    )
    rewrite(folder / "R1admin2.json", lambda features: features.append(district))
    return folder


def test_an_id_at_two_levels_is_kept_at_the_deeper_placement(tmp_path: Path) -> None:
    """A state listed again as a district of another state is kept as that district, counted."""
    report = import_geojson([with_island(tmp_path)])
    isle = Boundary.objects.get(osm_id="R13")
    assert (isle.level, isle.path) == (2, "Tinyland > West > Isle")
    assert report.quirks["id_at_two_levels"] == 1
    (note,) = report.notes
    assert note.startswith("R13 (Isle): kept at level 2 under R11")
    assert "left out its level 1 copy under R1" in note
    run = ImportRun.objects.get(pk=report.run_id)
    assert run.counts["quirks"]["id_at_two_levels"] == 1
    assert run.diff["notes"] == [note]


def test_the_deeper_placement_needs_a_parent(tmp_path: Path) -> None:
    """A district copy whose state exists nowhere leaves the island a state."""
    report = import_geojson([with_island(tmp_path, district_parent="R404")])
    assert Boundary.objects.get(osm_id="R13").level == 1
    assert report.quirks["id_at_two_levels"] == 1


def test_the_deeper_placement_may_hang_under_a_stored_parent(tmp_path: Path) -> None:
    """The parent may be stored rather than in the run; the other copy is in another country."""
    import_geojson([tiny_country(tmp_path / "one")])
    two = tmp_path / "two"
    write(two, "R2admin0.json", collection(feature("R2", "Twoland", coordinates=square(5, 5, 2))))
    write(
        two,
        "R2admin1.json",
        collection(feature("R13", "Isle", country="R2", coordinates=square(5, 5))),
    )
    write(
        two,
        "R1admin2.json",
        json.loads((tmp_path / "one" / "R1admin2.json").read_text()),
    )
    rewrite(two / "R1admin2.json", lambda features: features.append(ISLAND | {
        "properties": {**ISLAND["properties"], "is_in_state": "R12"}
    }))  # fmt: skip
    report = import_geojson([two])
    assert Boundary.objects.get(osm_id="R13").path == "Tinyland > East > Isle"
    assert report.quirks["id_at_two_levels"] == 1


def test_a_cycle_through_stored_boundaries_is_refused(tmp_path: Path) -> None:
    """Moving a state under its own stored district is refused, naming file, feature and field."""
    import_geojson([tiny_country(tmp_path)])
    before = snapshot()
    write(
        tmp_path / "wards",
        "R1admin3.json",
        collection(feature("R11", "West", country="R1", state="R111", coordinates=square(0, 0))),
    )
    with pytest.raises(InvalidInput) as caught:
        import_geojson([tmp_path / "wards"])
    assert any(
        "R1admin3.json, feature 0, osm_id R11, field 'parent_id / is_in_state': moves to level 3, "
        "at or below its stored child R111 (level 2)" in line
        for line in caught.value.problems
    )
    assert snapshot() == before


def test_a_country_filter_that_matches_nothing_fails(tmp_path: Path) -> None:
    """--country naming no country of the level files imports nothing and says so."""
    with pytest.raises(
        NoInput, match="none of its 4 features is in country R9; nothing was changed"
    ):
        import_geojson([two_countries_as_level_files(tmp_path)], country="R9")
    assert not Boundary.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_log_lines_of_a_run_carry_its_id(tmp_path: Path) -> None:
    """Every line an import logs names its run, so a worker's log can be read run by run."""
    seen: list[dict[str, object]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(dict(getattr(record, "context", {})))

    handler = Keep(level=logging.INFO)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("geo.importing.run")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        report = import_geojson([tiny_country(tmp_path)])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert seen and all(context.get("import_run") == report.run_id for context in seen)


def test_forked_workers_share_what_this_process_holds_frozen_then_it_is_unfrozen() -> None:
    """While a worker pool runs, the parent's objects are frozen (no copy-on-write by the
    collector); afterwards the collector sees them again, so nothing is kept forever."""
    # Not a file on disk (a zip member): taken as large enough to fork for.
    big = SourceFile(
        label="world.zip:R1admin1.json", group="R1", level=1, simplified=False,
        country_key="R1", read=lambda: b"",
    )  # fmt: skip
    gc.unfreeze()
    with run._workers([big]) as pool:
        assert gc.get_freeze_count() > 0
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
    assert gc.get_freeze_count() == 0

"""GET /api/v1/imports/<id>/changes.geojson for applied imports: from the history they left."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from shapely.geometry import shape

from geo.models import ImportJob, ImportRun, JobKind, JobStatus
from geo.workspaces import create_operator
from tests.history import HistoryWorld, build_history_world

pytestmark = pytest.mark.django_db


def changes(*rows: tuple[str, str, int]) -> dict[str, object]:
    return {
        "changes": [
            {"change": change, "osm_id": osm_id, "level": level, "path": "", "detail": ""}
            for change, osm_id, level in rows
        ]
    }


@pytest.fixture
def world(tmp_path: Path) -> HistoryWorld:
    """Tinyland's history, with the diff lines the two runs would have recorded."""
    world = build_history_world(tmp_path)
    ImportRun.objects.filter(pk=world.run1.pk).update(
        diff=changes(
            ("geometry changed", "R111", 2),
            ("retired", "R130", 2),
            ("added", "R161", 2),
            ("renamed", "R11", 1),
        )
    )
    ImportRun.objects.filter(pk=world.run2.pk).update(diff=changes(("retired", "R161", 2)))
    return world


def job_of(run: ImportRun) -> ImportJob:
    return ImportJob.objects.create(
        kind=JobKind.DOWNLOAD, countries=["R1"], status=JobStatus.SUCCEEDED, import_run=run
    )


def test_applied_import_shows_before_and_after(world: HistoryWorld) -> None:
    """Reshaped: before (the version it ended) and after; retired: before only; added:
    after only, as the run left it even though a later import retired it; renamed: none."""
    _, token = create_operator(username="ops")
    client = Client(headers={"Authorization": f"Token {token}"})
    response = client.get(f"/api/v1/imports/{job_of(world.run1).pk}/changes.geojson")
    assert response.status_code == 200
    features = response.json()["features"]
    sides = [(f["properties"]["osm_id"], f["properties"]["side"], f["properties"]["name"])
             for f in features]  # fmt: skip
    assert sides == [
        ("R111", "before", "Oldalpha"),
        ("R111", "after", "Alpha"),
        ("R130", "before", "Omega"),
        ("R161", "after", "Lambda"),
    ]
    before, after = shape(features[0]["geometry"]), shape(features[1]["geometry"])
    assert before.bounds == pytest.approx((0, 0, 0.5, 0.5))  # Alpha's quarter before run 1
    assert after.bounds == pytest.approx((0, 0, 1, 1))
    later = client.get(f"/api/v1/imports/{job_of(world.run2).pk}/changes.geojson").json()
    assert [(f["properties"]["osm_id"], f["properties"]["side"]) for f in later["features"]] == [
        ("R161", "before")
    ]

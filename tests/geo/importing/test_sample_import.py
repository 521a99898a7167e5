"""End to end on the project's generated sample country (fixtures/sample)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from geo.importing import import_geojson
from geo.models import Boundary, GeometrySource
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

SAMPLE = ROOT / "fixtures" / "sample"


def test_sample_country_imports_with_wards_and_shared_borders() -> None:
    """Mipakaland lands with its four levels, paths, valid geometry, and no overlaps once simplified."""
    report = import_geojson([SAMPLE])
    levels = Counter(Boundary.objects.values_list("level", flat=True))
    assert levels[0] == 1 and levels[1] == 4 and levels[2] >= 10 and levels[3] >= 4
    assert report.counts() == {"added": sum(levels.values())}
    assert report.quirks["duplicate_sibling_name"] == 0  # the two Riversides have different parents
    assert Boundary.objects.filter(name="Riverside", level=2).count() == 2
    ward = Boundary.objects.filter(level=3).select_related("parent").first()
    assert ward is not None and ward.parent is not None and ward.parent.level == 2
    assert ward.path.startswith("Mipakaland > ")
    assert not Boundary.objects.exclude(geometry_source=GeometrySource.FULL).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM geo_boundary a JOIN geo_boundary b"
            " ON a.country_id = b.country_id AND a.level = b.level AND a.id < b.id"
            " WHERE ST_Area(ST_Intersection(a.simplified_geometry, b.simplified_geometry)) > 1e-12"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM geo_boundary WHERE NOT ST_IsValid(simplified_geometry)"
        )
        assert cursor.fetchone() == (0,)
    again = import_geojson([SAMPLE])
    assert again.changed is False

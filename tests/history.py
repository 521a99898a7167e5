"""A small country with a past: imported for real, its history written as fixture rows.

``tests.builders.tiny_country`` (R1 Tinyland: West R11 with Alpha R111 and Beta
R112, East R12 with Gamma R121 and Delta R122) and a neighbour, R2 Otherland,
with another Alpha, are imported by ``import_geojson``. Then the records two
later imports would have left (``BoundaryVersion``, ``BoundaryLink``, retired
boundaries) are written with the ORM:

- 2024-01-01 (``run1``): West was "Westland"; Alpha was "Oldalpha" (and before
  2022 "Eldest") and only its south-west quarter; Beta was keyed R9112
  (p-code TL9112, now TL0112); Gamma sat in West; Omega (R130) was split
  between Gamma (60 %) and Delta (40 %); Sigma (R140) and Tau (R141) merged
  into Delta; Zeta (R150) retired with no successor; Kappa (R160) merged into
  Lambda (R161);
- 2025-01-01 (``run2``): Lambda was split in halves between Alpha and Beta.

Every boundary of Tinyland is valid from 2020-01-01 unless it changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon

from geo.importing import import_geojson
from geo.lookup.snapshot import lookup_data
from geo.models import (
    Boundary,
    BoundaryLink,
    BoundaryVersion,
    ImportRun,
    ImportStatus,
    Succession,
)
from tests.builders import collection, feature, square, tiny_country, write

T0 = datetime(2020, 1, 1, tzinfo=UTC)
T_ELDEST = datetime(2022, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class HistoryWorld:
    """The imported countries and the two runs whose records were written."""

    run1: ImportRun
    run2: ImportRun


def _shape(x: float, y: float, size: float = 1.0) -> MultiPolygon:
    polygon = GEOSGeometry(json.dumps({"type": "Polygon", "coordinates": square(x, y, size)}), 4326)
    return MultiPolygon(polygon, srid=4326)


def _retired(
    osm_id: str, name: str, *, parent: Boundary, at: datetime, run: ImportRun, x: float
) -> Boundary:
    return Boundary.objects.create(
        osm_id=osm_id, name=name, level=parent.level + 1, parent=parent, country=parent.country,
        path=f"{parent.path} > {name}", valid_from=T0, retired_at=at, retired_by=run,
        geometry=_shape(x, 5), simplified_geometry=_shape(x, 5),
    )  # fmt: skip


def _version(
    boundary: Boundary, *, until: datetime, run: ImportRun | None, **state: object
) -> None:
    fields: dict[str, object] = {
        "osm_id": boundary.osm_id, "name": boundary.name, "level": boundary.level,
        "parent": boundary.parent, "path": boundary.path, "codes": boundary.codes,
        "valid_from": T0, "valid_to": until, "ended_by": run,
        "geometry": _shape(0, 0), "simplified_geometry": _shape(0, 0),
    }  # fmt: skip
    BoundaryVersion.objects.create(boundary=boundary, **(fields | state))


def build_history_world(folder: Path) -> HistoryWorld:
    """Import Tinyland and Otherland, then write Tinyland's past (see the module)."""
    tiny_country(folder / "tiny")
    write(
        folder / "other",
        "R2admin0.json",
        collection(feature("R2", "Otherland", coordinates=square(10, 0, 2))),
    )
    write(
        folder / "other",
        "R2admin1.json",
        collection(feature("R21", "North", coordinates=square(10, 0, 2), country="R2")),
    )
    write(
        folder / "other",
        "R2admin2.json",
        collection(
            feature("R211", "Alpha", coordinates=square(10, 0, 2), country="R2", state="R21")
        ),
    )
    import_geojson([folder / "tiny", folder / "other"])
    Boundary.objects.update(valid_from=T0)
    run1 = ImportRun.objects.create(status=ImportStatus.SUCCEEDED, finished_at=T1)
    run2 = ImportRun.objects.create(status=ImportStatus.SUCCEEDED, finished_at=T2)
    by_id = {b.osm_id: b for b in Boundary.objects.select_related("parent", "country")}
    west, east = by_id["R11"], by_id["R12"]
    alpha, beta, gamma, delta = by_id["R111"], by_id["R112"], by_id["R121"], by_id["R122"]

    def link(pred: Boundary, succ: Boundary | None, kind: str, run: ImportRun, share: float = 1.0) -> None:  # fmt: skip
        BoundaryLink.objects.create(
            predecessor=pred, successor=succ, kind=kind, import_run=run, share=share
        )

    _version(west, until=T1, run=run1, name="Westland", path="Tinyland > Westland")
    link(west, west, Succession.RENAMED, run1)
    _version(alpha, until=T_ELDEST, run=None, name="Eldest", path="Tinyland > West > Eldest",
             geometry=_shape(0, 0, 0.5), simplified_geometry=_shape(0, 0, 0.5))  # fmt: skip
    _version(alpha, until=T1, run=run1, name="Oldalpha", path="Tinyland > Westland > Oldalpha",
             valid_from=T_ELDEST, geometry=_shape(0, 0, 0.5), simplified_geometry=_shape(0, 0, 0.5))  # fmt: skip
    link(alpha, alpha, Succession.RENAMED, run1)
    Boundary.objects.filter(pk=beta.pk).update(codes={"pcode": "TL0112"})
    _version(beta, until=T1, run=run1, osm_id="R9112", codes={"pcode": "TL9112"},
             path="Tinyland > Westland > Beta", geometry=_shape(0, 1), simplified_geometry=_shape(0, 1))  # fmt: skip
    link(beta, beta, Succession.REKEYED, run1)
    _version(gamma, until=T1, run=run1, parent=west, path="Tinyland > Westland > Gamma",
             geometry=_shape(1, 0), simplified_geometry=_shape(1, 0))  # fmt: skip
    link(gamma, gamma, Succession.MOVED, run1)
    omega = _retired("R130", "Omega", parent=east, at=T1, run=run1, x=3)
    link(omega, gamma, Succession.SPLIT, run1, 0.6)
    link(omega, delta, Succession.SPLIT, run1, 0.4)
    for osm_id, name, x in (("R140", "Sigma", 5), ("R141", "Tau", 7)):
        merged = _retired(osm_id, name, parent=east, at=T1, run=run1, x=x)
        link(merged, delta, Succession.MERGED, run1)
    zeta = _retired("R150", "Zeta", parent=east, at=T1, run=run1, x=9)
    link(zeta, None, Succession.RETIRED, run1)
    kappa = _retired("R160", "Kappa", parent=west, at=T1, run=run1, x=11)
    lambda_ = _retired("R161", "Lambda", parent=west, at=T2, run=run2, x=13)
    Boundary.objects.filter(pk=lambda_.pk).update(valid_from=T1)
    link(kappa, lambda_, Succession.MERGED, run1)
    link(lambda_, alpha, Succession.SPLIT, run2, 0.5)
    link(lambda_, beta, Succession.SPLIT, run2, 0.5)
    Boundary.objects.filter(pk__in=[west.pk, alpha.pk, beta.pk, gamma.pk]).update(valid_from=T1)
    lookup_data.forget()
    return HistoryWorld(run1=run1, run2=run2)

"""Property tests: generated extracts, whatever their shape, import or are refused cleanly.

Hypothesis builds whole extracts (one to three countries, every level, ids
drawn from a small pool so they are reused across levels and countries,
parents sometimes wrong, missing, in another country or in a cycle, files
sometimes left out or named ``admin_level_<N>``), geometries of every form
and byte-level damage to a valid file. Each is run through
``manage.py import_geojson`` (``call_command``). The property: the run
either succeeds and leaves a consistent hierarchy, or raises ``CommandError``
whose lines name a file, and leaves every table an import writes unchanged.
Any other exception, a traceback, fails the test.

The default profile is small and derandomized (``conftest.py``);
``HYPOTHESIS_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import json
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import event, given, note
from hypothesis import strategies as st

from geo.importing.parse import parse_source
from geo.importing.types import SourceFile
from geo.models import Boundary
from scripts.drill_import_kill import database_digest
from tests.builders import collection, square, tiny_country, write

pytestmark = pytest.mark.django_db

ID_POOL = ["R1", "R2", "R3", "R11", "R12", "R13", "R21", "R111", "R112", "W5", "7", "R404"]

# Text as it comes: names with control characters, marks, NUL, very long ones.
NAMES = st.one_of(
    st.sampled_from(["Alpha", "None", "", " Saint  Martin ", "\u200fکابل\u200e", "A" * 300]),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x9F), max_size=10),
    st.none(),
    st.integers(-5, 5),
    st.lists(st.text(max_size=3), max_size=2),
)
PLAIN_NAMES = st.sampled_from(["Alpha", "Beta", "Gamma", "Kigali City", "Île-de-France", "Γ"])
IDS = st.one_of(
    st.sampled_from(ID_POOL),
    st.sampled_from(ID_POOL).map(lambda v: int(v.lstrip("RW")) if v.lstrip("RW").isdigit() else v),
    st.sampled_from([None, "None", "", True, 1.5, ["R1"], {"id": 1}, "R1\x00", "R" * 80, 2**70]),
)
FINITE = st.floats(min_value=-180, max_value=180, allow_nan=False)
ANY_NUMBER = st.one_of(
    FINITE,
    st.floats(),  # NaN and infinities become NaN/Infinity literals in the file
    st.integers(),
    st.sampled_from([1e308, -1e308, 10**30, 2**63, True, False, None, "1.0"]),
)


def ring_of(number: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    position = st.lists(number, min_size=1, max_size=5)
    return st.lists(position, min_size=0, max_size=8)


def square_at(x: float, y: float, size: float) -> list[list[list[float]]]:
    return square(x, y, size)


POLYGON_COORDS = st.one_of(
    st.builds(
        square_at,
        st.floats(-179, 178, allow_nan=False),
        st.floats(-89, 88, allow_nan=False),
        st.sampled_from([0.001, 0.5, 1.0]),
    ),
    st.lists(ring_of(FINITE), max_size=3),
    st.lists(ring_of(ANY_NUMBER), max_size=2),
    st.just([[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]),  # bow-tie
    st.just([[[0, 0], [1, 0], [1, 1], [0, 1]]]),  # unclosed
    st.just([[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]]),  # 3D
    st.just([[[0, 0, 5, 6], [1, 0, 5, 6], [1, 1, 5, 6], [0, 0, 5, 6]]]),  # 4D
)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
GEOMETRIES = st.one_of(
    st.builds(lambda c: {"type": "Polygon", "coordinates": c}, POLYGON_COORDS),
    st.builds(lambda cs: {"type": "MultiPolygon", "coordinates": cs}, st.lists(POLYGON_COORDS, max_size=3)),
    st.just({"type": "MultiPolygon", "coordinates": [square(179, 0), square(-180, 0)]}),  # antimeridian
    st.builds(
        lambda c: {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "coordinates": c}]},
        POLYGON_COORDS,
    ),
    st.just({"type": "Point", "coordinates": [0, 0]}),
    st.builds(lambda t, c: {"type": t, "coordinates": c}, st.sampled_from(["polygon", "Line", "", 5, None]), POLYGON_COORDS),
    st.sampled_from([None, {}, {"type": "Polygon", "coordinates": []}, "POLYGON EMPTY", [], 0]),
    JSON_ANY,
)  # fmt: skip


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("import_geojson", *args, stdout=out)
    return out.getvalue()


def clear() -> None:
    with connection.cursor() as cursor:
        for table in (
            "geo_boundaryshape",
            "geo_boundaryalias",
            "geo_boundarychange",
            "geo_boundarylink",
            "geo_boundaryversion",
            "geo_boundary",
            "geo_parsedfilerecord",
        ):
            cursor.execute(f"DELETE FROM {table}")


def assert_consistent() -> None:
    """Every current boundary sits under a current parent one level up or more, in its country, on its path."""
    rows = {
        b.pk: b
        for b in Boundary.objects.filter(retired_at=None).only(
            "id", "osm_id", "name", "level", "parent", "country", "path"
        )
    }
    for boundary in rows.values():
        assert "\x00" not in boundary.osm_id + boundary.name + boundary.path
        if boundary.level == 0:
            assert boundary.parent_id is None
            assert boundary.country_id == boundary.pk
            assert boundary.path == boundary.name
            continue
        assert boundary.parent_id is not None
        parent = rows[boundary.parent_id]
        assert parent.level < boundary.level
        assert boundary.country_id == parent.country_id
        assert boundary.path == f"{parent.path} > {boundary.name}"


def import_or_refuse(path: Path) -> str:
    """Run the command; on refusal check the message and that nothing changed."""
    before = database_digest()
    try:
        run_command(str(path), "-v", "2")
    except CommandError as exc:
        lines = str(exc).splitlines()
        note(str(exc))
        assert lines
        # Every line names where the problem is (a file, a folder or the zip).
        assert all(str(path) in line or ".json" in line for line in lines[1:] or lines), lines
        assert database_digest() == before
        event("refused")
        return "refused"
    assert_consistent()
    event("imported")
    return "imported"


def generated_feature(
    draw: st.DrawFn,
    level: int,
    osm_id: object,
    parent: object,
    *,
    country: str,
    box: tuple[float, ...],
) -> dict[str, Any]:
    """A feature whose parent, name and geometry are mostly right, and sometimes anything."""
    wrong = draw(st.integers(0, 11)) == 0
    properties = {
        "osm_id": osm_id,
        "name": draw(NAMES) if draw(st.integers(0, 7)) == 0 else draw(PLAIN_NAMES),
        "name_en": "None",
        "is_in_country": draw(IDS) if level == 1 and wrong else country,
        "is_in_state": draw(IDS) if wrong else parent,
    }
    if level == 3 or draw(st.integers(0, 4)) == 0:
        properties["parent_id"] = draw(IDS) if wrong else parent
    shape = (
        draw(GEOMETRIES)
        if draw(st.integers(0, 7)) == 0
        else {"type": "Polygon", "coordinates": square(*box)}
    )
    return {"type": "Feature", "properties": properties, "geometry": shape}


@st.composite
def extracts(draw: st.DrawFn) -> dict[str, Any]:
    """A set of files: countries with states, districts and wards, ids and parents as drawn."""
    files: dict[str, list[dict[str, Any]]] = {}
    level_files = draw(st.booleans())
    for c in range(draw(st.integers(1, 3))):
        country_id = draw(st.sampled_from(["R1", "R2", "R3", "7"]))
        levels: list[list[dict[str, Any]]] = [[] for _ in range(4)]
        x, y = c * 10.0, 0.0

        def add(level: int, osm_id: object, parent: object, box: tuple[float, ...]) -> None:
            feature = generated_feature(draw, level, osm_id, parent, country=country_id, box=box)  # noqa: B023
            levels[level].append(feature)  # noqa: B023

        add(0, country_id, "None", (x, y, 8.0))
        for s in range(draw(st.integers(0, 2))):
            state = draw(IDS if draw(st.integers(0, 3)) == 0 else st.just(f"{country_id}{s + 1}"))
            add(1, state, country_id, (x + s * 4, y, 4.0))
            for d in range(draw(st.integers(0, 2))):
                own = st.just(f"{country_id}{s + 1}{d + 1}")
                district = draw(IDS if draw(st.integers(0, 5)) == 0 else own)
                add(2, district, state, (x + s * 4 + d * 2, y, 2.0))
                if draw(st.integers(0, 3)) == 0:
                    add(3, draw(IDS), district, (x + s * 4 + d * 2, y, 1.0))
        for level, features in enumerate(levels):
            if draw(st.integers(0, 6)) == 0:
                continue  # a missing level file
            name = (
                f"admin_level_{level}.json"
                if level_files
                else f"R{country_id.lstrip('R')}admin{level}.json"
            )
            files.setdefault(name, []).extend(features)
    return {name: collection(*features) for name, features in files.items()}


def dump(document: object) -> bytes:
    # allow_nan: the file then holds NaN/Infinity literals, as a careless writer would.
    return json.dumps(document, allow_nan=True).encode()


@given(extracts())
def test_generated_extracts_import_or_are_refused_cleanly(documents: dict[str, Any]) -> None:
    clear()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, document in documents.items():
            write(folder, name, dump(document))
        note(json.dumps(documents, default=str)[:3000])
        if import_or_refuse(folder) == "imported":
            # The same input again changes nothing.
            first = database_digest()
            assert import_or_refuse(folder) == "imported"
            assert database_digest() == first


@given(st.lists(GEOMETRIES, min_size=1, max_size=4), st.lists(NAMES, min_size=4, max_size=4))
def test_generated_geometries_and_names_never_escape_as_exceptions(
    geometries: list[Any], names: list[Any]
) -> None:
    features = [
        {"type": "Feature", "properties": {"osm_id": f"R1{i}", "name": name, "is_in_country": "R1"}, "geometry": g}
        for i, (g, name) in enumerate(zip(geometries, names, strict=False))
    ]  # fmt: skip
    clear()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder, "R1admin0.json", collection({"type": "Feature", "properties": {"osm_id": "R1", "name": "One"}, "geometry": {"type": "Polygon", "coordinates": square(-180, -90, 180)}}))  # fmt: skip
        write(folder, "R1admin1.json", dump(collection(*features)))
        import_or_refuse(folder)


DAMAGE = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 20)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("bom"), st.sampled_from(["utf-8-sig", "utf-16", "utf-32"]), st.just(0)),
    st.tuples(st.just("encode"), st.sampled_from(["utf-16-le", "latin-1", "utf-16-be"]), st.just(0)),
    st.tuples(st.just("replace"), st.sampled_from(['"Feature"', '"osm_id"', "0.0", '"R1"', "]", "{"]), st.sampled_from(['"Featur"', "true", "NaN", "null", '"R1", "osm_id": [1]', "[]", "{}", ""])),
)  # fmt: skip


def damaged(data: bytes, damage: tuple[Any, Any, Any]) -> bytes:
    kind, where, what = damage
    if kind == "insert":
        at = where % (len(data) + 1)
        return data[:at] + what + data[at:]
    if kind == "delete":
        at = where % (len(data) + 1)
        return data[:at] + data[at + what :]
    if kind == "truncate":
        return data[: where % (len(data) + 1)]
    if kind == "bom":
        return data.decode(errors="replace").encode(where)
    if kind == "encode":
        return data.decode(errors="replace").encode(where, errors="replace")
    return data.replace(where.encode(), what.encode(), 1)


@given(st.lists(DAMAGE, min_size=1, max_size=3), st.sampled_from([0, 1, 2]))
def test_damaged_bytes_import_or_are_refused_cleanly(
    damages: list[tuple[Any, Any, Any]], level: int
) -> None:
    clear()
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_country(Path(tmp))
        path = folder / f"R1admin{level}.json"
        data = path.read_bytes()
        for damage in damages:
            data = damaged(data, damage)
        path.write_bytes(data)
        note(repr(data[:300]))
        import_or_refuse(folder)


@given(
    st.lists(st.one_of(GEOMETRIES, JSON_ANY), min_size=1, max_size=5),
    st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
)
def test_parsing_any_feature_list_gives_features_or_problems(
    values: list[Any], encoding: str
) -> None:
    """The pure parser, on many more inputs: only features and problems come out."""
    features = [
        value if isinstance(value, dict) and value.get("type") == "Feature"
        else {"type": "Feature", "properties": {"osm_id": f"R{i}", "name": "x"}, "geometry": value}
        for i, value in enumerate(values)
    ]  # fmt: skip
    data = json.dumps(collection(*features)).encode("utf-8").decode().encode(encoding)
    source = SourceFile(
        label="R1admin1.json", group="R1", level=1, simplified=False, country_key="R1",
        read=lambda: data,
    )  # fmt: skip
    parsed = parse_source(source)
    assert len(parsed.features) + len(parsed.problems) >= 1
    for problem in parsed.problems:
        line = str(problem)
        assert "\n" not in line and "\x00" not in line
        assert line.startswith("R1admin1.json")

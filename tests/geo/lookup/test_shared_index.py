from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geo.importing import import_geojson
from geo.lookup import shared_index
from geo.lookup.points import PointIndex
from geo.lookup.snapshot import data_version, lookup_data
from tests.builders import tiny_country
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(settings: Any, tmp_path: Path) -> Path:
    settings.MIPAKA_SHARED_INDEX = True
    settings.MIPAKA_INDEX_DIR = tmp_path / "index"
    import_geojson([tiny_country(tmp_path / "tiny")])
    return settings.MIPAKA_INDEX_DIR


def random_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.uniform(-0.5, 2.5, 400), rng.uniform(-0.5, 2.5, 400)


def test_built_once_per_version_and_atomically(shared: Path) -> None:
    """A second call finds the files; no temporary folder is left; a builder's leftovers go."""
    version, directory = shared_index.ensure_index(0)
    root = shared_index.index_root()
    assert directory == shared_index.version_dir(root, version)
    assert version >= 1
    stamp = (directory / "xy.npy").stat().st_mtime_ns
    leftover = root / ".build-killed"
    leftover.mkdir()
    assert shared_index.built_versions(root) == [version]  # a half-written build is not a version
    assert shared_index.ensure_index(version) == (version, directory)
    assert (directory / "xy.npy").stat().st_mtime_ns == stamp
    shared_index.build_index(root)  # the newest is built already: nothing rewritten
    assert (directory / "xy.npy").stat().st_mtime_ns == stamp
    assert not leftover.exists()


def test_same_answers_as_the_in_memory_build(shared: Path) -> None:
    """The mapped index answers exactly as one built in memory from the database."""
    _, directory = shared_index.ensure_index(0)
    hierarchy, mapped = shared_index.open_index(directory)
    assert isinstance(mapped.arrays["slab_edges"], np.memmap)
    lons, lats = random_points()
    assert mapped.locate_many(lons, lats) == PointIndex.from_database().locate_many(lons, lats)
    assert {p.path for p in hierarchy.places.values()} >= {"Tinyland", "Tinyland > East"}


def test_old_versions_are_removed(shared: Path, tmp_path: Path) -> None:
    """After a newer import's build, only it and the one before are kept."""
    root = shared_index.index_root()
    first, _ = shared_index.ensure_index(0)
    for name in ("Tinyland Two", "Tinyland Three"):
        country = tiny_country(tmp_path / name)
        for path in Path(country).glob("*admin0*"):
            path.write_text(path.read_text().replace("Tinyland", name))
        import_geojson([country])
        shared_index.ensure_index(data_version())
    versions = shared_index.built_versions(root)
    assert len(versions) == 2
    assert versions[0] > first


def test_folders_of_another_format_are_removed(shared: Path) -> None:
    """After an upgrade changes the files' layout, the old layout's folders go at the next build.

    Up to the version built: a newer folder of another format belongs to code
    that is still running elsewhere and is left alone.
    """
    root = shared_index.index_root()
    version = data_version()
    older = root / f"v{version}.f{shared_index.FORMAT - 1}"
    newer = root / f"v{version + 1}.f{shared_index.FORMAT - 1}"
    unrelated = root / "notes"
    for folder in (older, newer, unrelated):
        folder.mkdir(parents=True)
        (folder / "xy.npy").write_bytes(b"old layout")
    built, directory = shared_index.ensure_index(version)
    assert built == version
    assert directory.is_dir()
    assert not older.exists()
    assert newer.exists()
    assert unrelated.exists()


def test_read_by_a_second_process(shared: Path) -> None:
    """Another process maps the files (no database) and finds the same boundaries."""
    _, directory = shared_index.ensure_index(0)
    lons, lats = random_points()
    code = (
        "import json, sys; from pathlib import Path; import numpy as np;"
        "from geo.lookup.points import PointIndex;"
        f"index = PointIndex.load(Path({str(directory)!r}));"
        "lons, lats = json.load(sys.stdin);"
        "print(json.dumps([sorted(ids) for ids in index.locate_many(np.array(lons), np.array(lats))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([lons.tolist(), lats.tolist()]),
        capture_output=True, text=True, check=True, cwd=ROOT, env=subprocess_env(),
    ).stdout  # fmt: skip
    expected = [sorted(ids) for ids in PointIndex.from_database().locate_many(lons, lats)]
    assert json.loads(out) == expected
    assert any(expected)


def test_lookup_data_serves_the_files(shared: Path) -> None:
    """With the shared index on, a process's snapshot comes from the mapped files."""
    lookup_data.forget()
    assert sorted(lookup_data.points().locate(1.5, 0.5)) != []
    snapshot = lookup_data.current()
    assert snapshot is not None
    assert snapshot.shared_from is not None
    assert Path(snapshot.shared_from).parent == shared_index.index_root()

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from geo.exceptions import InvalidInput, NoInput
from geo.importing.sources import discover_sources
from tests.builders import collection, write


def labels(paths: list[Path | str], **kwargs: str) -> list[str]:
    return [Path(s.label.split("!")[-1]).name for s in discover_sources(paths, **kwargs).files]


def test_full_file_preferred_over_simplified_twin(tmp_path: Path) -> None:
    """Where both exist the full file is read; a lone simplified file is used."""
    for name in ["R1admin0.json", "R1admin0_simplified.json", "R1admin1_simplified.json"]:
        write(tmp_path, name, collection())
    selection = discover_sources([tmp_path])
    assert [Path(s.label).name for s in selection.files] == [
        "R1admin0.json",
        "R1admin1_simplified.json",
    ]
    assert selection.twins_unused == 1
    assert [s.simplified for s in selection.files] == [False, True]


def test_both_name_forms_and_levels(tmp_path: Path) -> None:
    """R<id>admin<N> and admin_level_<N> names give the level; levels sort first."""
    write(tmp_path / "a", "admin_level_1_simplified.json", collection())
    write(tmp_path / "a", "admin_level_0.json", collection())
    write(tmp_path, "171496admin2.json", collection())
    files = discover_sources([tmp_path]).files
    assert [(Path(s.label).name, s.level, s.country_key) for s in files] == [
        ("admin_level_0.json", 0, None),
        ("admin_level_1_simplified.json", 1, None),
        ("171496admin2.json", 2, "171496"),
    ]


def test_other_json_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    """A JSON file with another name is listed as skipped, not read."""
    write(tmp_path, "R1admin0.json", collection())
    write(tmp_path, "data.json", collection())
    selection = discover_sources([tmp_path])
    assert len(selection.files) == 1
    assert "data.json: name matches neither" in selection.skipped[0]


def test_zip_archives_are_read(tmp_path: Path) -> None:
    """Files inside a zip are found and read from it."""
    archive = tmp_path / "rwanda.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("geojson/R1admin0.json", '{"type": "FeatureCollection", "features": []}')
        zf.writestr(
            "geojson/R1admin1_simplified.json", '{"type": "FeatureCollection", "features": []}'
        )
    files = discover_sources([archive]).files
    assert [s.level for s in files] == [0, 1]
    assert files[0].read() == b'{"type": "FeatureCollection", "features": []}'


def test_country_option_keeps_one_country(tmp_path: Path) -> None:
    """--country keeps that relation's files, with or without the R prefix."""
    for name in ["R1admin0.json", "R2admin0.json", "R2admin1.json"]:
        write(tmp_path, name, collection())
    assert labels([tmp_path], country="R2") == ["R2admin0.json", "R2admin1.json"]
    assert labels([tmp_path], country="2") == ["R2admin0.json", "R2admin1.json"]


def test_missing_path_and_empty_folder_are_errors(tmp_path: Path) -> None:
    """A path that does not exist, or a folder with nothing to import, stops the run."""
    with pytest.raises(NoInput, match="no such file or folder"):
        discover_sources([tmp_path / "nope"])
    with pytest.raises(NoInput, match=r"no R<id>admin<N>\.json"):
        discover_sources([tmp_path])


def test_level_above_three_is_refused(tmp_path: Path) -> None:
    """Levels 0 to 3 exist; a level-4 file is a clear error."""
    write(tmp_path, "R1admin4.json", collection())
    with pytest.raises(InvalidInput, match="level 4 is not supported"):
        discover_sources([tmp_path])


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    """Naming a file and its folder does not import it twice."""
    path = write(tmp_path, "R1admin0.json", collection())
    assert len(discover_sources([path, tmp_path]).files) == 1


@pytest.mark.parametrize(
    "entry", ["../../R1admin0.json", "/tmp/R1admin0.json", "a/../../R1admin0.json"]
)
def test_zip_entries_that_climb_out_are_refused(tmp_path: Path, entry: str) -> None:
    """An archive whose entry names leave its folder is refused whole, naming the entry."""
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("R1admin1.json", "{}")
        zf.writestr(entry, "{}")
    with pytest.raises(InvalidInput, match=re.escape(f"up.zip!{entry}: entry name climbs out")):
        discover_sources([archive])

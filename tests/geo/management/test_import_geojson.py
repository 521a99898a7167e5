from __future__ import annotations

import codecs
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.models import Boundary
from tests.builders import changing_country, collection, feature, square, tiny_country, write
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_geojson", *args, stdout=out)
    return out.getvalue()


def test_prints_the_diff_and_a_summary_table(tmp_path: Path) -> None:
    """The command lists changes, then a table of counts, quirks and the outcome."""
    output = run(str(tiny_country(tmp_path)))
    assert "added            L2 R121         Tinyland > East > Gamma" in output
    assert "features read" in output
    assert "committed: 7 changes" in output
    assert "no changes, everything was up to date" in run(str(tmp_path))


def test_prints_where_retired_boundaries_went(tmp_path: Path) -> None:
    """A split is one line: the retired boundary, then its successors and their shares."""
    run(str(changing_country(tmp_path, stage=1)))
    output = run(str(changing_country(tmp_path, stage=2)), "--dry-run")
    assert (
        "retired          L2 R113         Changeland > West > Epsilon"
        " (split into Eps East 50%, Eps West 50%)" in output
    )
    assert "  retired " in output  # the summary counts them


def test_dry_run_says_nothing_was_written(tmp_path: Path) -> None:
    """--dry-run ends by saying so, and the database stays empty."""
    output = run(str(tiny_country(tmp_path)), "--dry-run")
    assert "Dry run" in output
    assert "nothing was written" in output
    assert not Boundary.objects.exists()


def test_problems_become_a_command_error_with_one_line_each(tmp_path: Path) -> None:
    """Broken input is reported as a CommandError naming file, feature, osm_id and field."""
    write(tmp_path, "R1admin0.json", collection(feature("R1", "Land", coordinates=square(0, 0))))
    write(
        tmp_path,
        "R1admin1.json",
        collection(feature("R11", "X", country="R7", coordinates=square(0, 0))),
    )
    with pytest.raises(CommandError) as caught:
        run(str(tmp_path))
    lines = str(caught.value).splitlines()
    assert lines[0] == "1 problem in the input; nothing was changed"
    assert lines[1].endswith(
        "R1admin1.json, feature 0, osm_id R11, field 'parent_id / is_in_country': parent R7 exists nowhere (not in this run, not imported before)"
    )
    assert not Boundary.objects.exists()


def test_verbose_lists_every_change(tmp_path: Path) -> None:
    """-v 2 lists every change instead of the first fifty."""
    features = [
        feature(f"R{i}", f"Place {i}", country="R1", coordinates=square(i, 0))
        for i in range(10, 70)
    ]
    write(
        tmp_path, "R1admin0.json", collection(feature("R1", "Land", coordinates=square(0, 0, 80)))
    )
    write(tmp_path, "R1admin1.json", collection(*features))
    short = run(str(tmp_path), "--dry-run")
    assert "… and 11 more changes (-v 2 lists them all)" in short
    full = run(str(tmp_path), "--dry-run", "-v", "2")
    assert "Place 69" in full
    assert "more changes" not in full


@pytest.mark.django_db(transaction=True)
def test_users_see_one_clear_line_never_a_traceback(tmp_path: Path) -> None:
    """Run as a process, a bad path exits 1 with a CommandError line and no traceback."""
    env = subprocess_env()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_geojson", str(tmp_path / "missing.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == f"CommandError: {tmp_path / 'missing.json'}: no such file or folder"
    )


def test_verbosity_three_lists_every_feature(tmp_path: Path) -> None:
    """-v 2 adds a line per file; -v 3 also lists the features that did not change."""
    run(str(tiny_country(tmp_path)))
    output = run(str(tmp_path), "-v", "3")
    assert "R1admin2.json: 4 features (content as before)" in output
    assert "unchanged        L2 R121         Tinyland > East > Gamma" in output
    assert "unchanged" not in run(str(tmp_path)).replace("unchanged  ", "")


def broken_id(folder: Path) -> Path:
    tiny_country(folder)
    data = json.loads((folder / "R1admin2.json").read_text())
    data["features"][1]["properties"]["osm_id"] = {"id": "R112"}
    write(folder, "R1admin2.json", data)
    return folder


def climbing_zip(folder: Path) -> Path:
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "up.zip", "w") as zf:
        zf.writestr("../../R1admin0.json", json.dumps(collection()))
    return folder / "up.zip"


def nul_in_a_name(folder: Path) -> Path:
    tiny_country(folder)
    data = json.loads((folder / "R1admin1.json").read_text())
    data["features"][0]["properties"]["name"] = "We\x00st"
    write(folder, "R1admin1.json", codecs.BOM_UTF8 + json.dumps(data).encode())
    return folder


def every_file_empty(folder: Path) -> Path:
    write(folder, "R1admin0.json", collection())
    write(folder, "R1admin1.json", collection())
    return folder


@pytest.mark.parametrize(
    ("make", "code", "expected"),
    [
        (broken_id, 1, "R1admin2.json, feature 1, osm_id {\"id\": \"R112\"}, field 'osm_id': is an object, expected a string or an integer"),
        (climbing_zip, 1, "up.zip!../../R1admin0.json: entry name climbs out of the archive's folder"),
        (every_file_empty, 1, "R1admin1.json: no file holds a feature; nothing was changed"),
        (nul_in_a_name, 0, "quirk: control characters removed         1"),
    ],
    ids=["osm_id_object", "zip_climbing_out", "every_file_empty", "bom_and_nul_in_a_name"],
)  # fmt: skip
@pytest.mark.django_db(transaction=True)
def test_exit_code_and_no_traceback_as_a_process(
    tmp_path: Path, make: Callable[[Path], Path], code: int, expected: str
) -> None:
    """Run as a process: refused input exits 1 with CommandError lines, taken input exits 0."""
    result = subprocess.run(
        [sys.executable, "manage.py", "import_geojson", str(make(tmp_path / "in"))],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code:
        assert result.stderr.startswith("CommandError: ")
        assert expected in result.stderr
        assert not Boundary.objects.exists()
    else:
        assert expected in result.stdout
        assert Boundary.objects.get(osm_id="R11").name == "West"

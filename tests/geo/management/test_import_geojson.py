from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.models import Boundary
from tests.builders import collection, feature, square, tiny_country, write
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

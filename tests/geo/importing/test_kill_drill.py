"""SIGKILL an import of several real countries at ten moments spread over its run.

The drill (``scripts/drill_import_kill.py``, which runs it on the whole world)
imports the fictional sample country first, as the state "before", and
measures one uninterrupted run of the real countries, the state "after".
Then it starts the same import ten times and kills its process group at a
seeded random moment in each tenth of the run's measured duration. After
each kill, every table an import writes must digest exactly as before or as
after: the one transaction is all or nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.importing import import_geojson
from geo.models import ImportRun, ImportStatus
from scripts.drill_import_kill import database_digest, drill, kill_moments
from tests.conftest import ROOT, subprocess_env

# Rwanda (clean), Guernsey and Malta (ids at two levels), New Zealand (antimeridian): about 3 MB.
COUNTRIES = ("R171496", "R270009", "R365307", "R556706")


def test_moments_are_seeded_and_spread_over_the_run() -> None:
    moments = kill_moments(20.0, 10, seed=7)
    assert moments == kill_moments(20.0, 10, seed=7)
    assert moments != kill_moments(20.0, 10, seed=8)
    # One in each tenth of the run (and a little past its end).
    for i, moment in enumerate(moments):
        assert i * 2.1 <= moment < (i + 1) * 2.1


@pytest.mark.real_data
@pytest.mark.django_db(transaction=True)
def test_sigkill_at_ten_moments_leaves_the_state_before_or_after(posm_extracts: Path) -> None:
    import_geojson([ROOT / "fixtures" / "sample"])
    before = database_digest()
    files = [
        path for country in COUNTRIES for path in sorted(posm_extracts.glob(f"{country}admin*"))
    ]
    lines: list[str] = []
    result = drill(
        files,
        moments=10,
        seed=7,
        env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings"),
        say=lines.append,
    )
    report = "\n".join(lines)
    assert len(result.moments) == 10, report
    assert result.count("NEITHER") == 0, report
    # Kills land before the commit; the database is left as before and the drill ends there.
    assert result.count("before") >= 3, report
    assert database_digest() == before
    # The killed runs' records stay, "running" until an import commits and marks them abandoned.
    # (wait: the backend of the last killed run may not have noticed its end yet)
    import_geojson([ROOT / "fixtures" / "sample"], wait=True)
    assert not ImportRun.objects.filter(status=ImportStatus.RUNNING).exists()
    # Every kill that found a run record (not one still starting up) left it, now abandoned.
    # A kill seen "starting" may have come just after the process sent the statement that
    # records its run: PostgreSQL commits it after the process died, so it may count too.
    killed_runs = sum(
        1 for m in result.moments if m.outcome == "before" and m.stage.startswith("running")
    )
    starting = sum(1 for m in result.moments if m.stage == "starting")
    abandoned = ImportRun.objects.filter(status=ImportStatus.ABANDONED).count()
    assert killed_runs <= abandoned <= killed_runs + starting, report

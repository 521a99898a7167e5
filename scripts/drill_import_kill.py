"""Drill: SIGKILL an import at random moments; the database must be as before or as after.

    .venv/bin/python scripts/drill_import_kill.py --yes [PATH ...] [--moments 10] [--seed 1]

PATH defaults to the whole posm-extracts folder (``POSM_EXTRACTS_DIR``). The
drill works in the database of ``DATABASE_URL`` and clears its boundaries
first (hence ``--yes``; it refuses a database that has workspaces). Then:

1. imports ``fixtures/sample`` as the "before" state and takes a digest of
   every table an import writes (boundaries, zoom-band shapes, aliases, parsed
   file records), leaving out what differs between equal runs (ids, times,
   the run that wrote a row);
2. runs ``manage.py import_geojson PATH`` once to its end: its wall time is
   the run's duration, and the digest after it is the "after" state;
3. restores "before" and, for each of ``--moments`` moments (one drawn at
   random, seeded, in each of as many equal slices of the duration), starts
   the same import, sends SIGKILL to its process group at that moment, and
   compares the digest with "before" and "after" (restoring "before" when
   the run had committed).

It prints each moment (delay, the stage the run had reached, the outcome) and
a summary; any state that is neither before nor after is a failure (exit 1).
The test suite runs the same drill on a few real countries
(``tests/geo/importing/test_kill_drill.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)
BASELINE = ROOT / "fixtures" / "sample"

# One md5 per table an import writes, over rows rendered without ids, times
# or run ids: two runs that write the same boundaries give the same digest.
DIGEST_QUERIES = {
    "geo_boundary": """
        SELECT concat_ws('|', b.osm_id, b.name, b.name_en, b.level, p.osm_id, c.osm_id, b.path,
                         md5(ST_AsEWKB(b.geometry)), md5(ST_AsEWKB(b.simplified_geometry)),
                         b.geometry_source, b.bbox_west, b.bbox_south, b.bbox_east, b.bbox_north,
                         b.area_km2, b.vertex_count, b.geometry_digest, b.simplification)
        FROM geo_boundary b
        LEFT JOIN geo_boundary p ON p.id = b.parent_id
        LEFT JOIN geo_boundary c ON c.id = b.country_id
    """,
    "geo_boundaryshape": """
        SELECT concat_ws('|', b.osm_id, s.band, md5(ST_AsEWKB(s.geometry)), s.vertex_count)
        FROM geo_boundaryshape s JOIN geo_boundary b ON b.id = s.boundary_id
    """,
    "geo_boundaryalias": """
        SELECT concat_ws('|', w.name, b.osm_id, a.name)
        FROM geo_boundaryalias a
        JOIN geo_boundary b ON b.id = a.boundary_id
        JOIN geo_workspace w ON w.id = a.workspace_id
    """,
    "geo_parsedfilerecord": """
        SELECT concat_ws('|', content_digest, level, simplified, label, md5(features::text),
                         quirks::text)
        FROM geo_parsedfilerecord
    """,
    # History: earlier states, successions and the change log (their times left out).
    "geo_boundaryversion": """
        SELECT concat_ws('|', b.osm_id, v.osm_id, v.name, v.path, v.level,
                         md5(ST_AsEWKB(v.geometry)))
        FROM geo_boundaryversion v JOIN geo_boundary b ON b.id = v.boundary_id
    """,
    "geo_boundarylink": """
        SELECT concat_ws('|', p.osm_id, s.osm_id, l.kind, round(l.share::numeric, 9))
        FROM geo_boundarylink l
        JOIN geo_boundary p ON p.id = l.predecessor_id
        LEFT JOIN geo_boundary s ON s.id = l.successor_id
    """,
    "geo_boundarychange": """
        SELECT concat_ws('|', b.osm_id, c.kind, c.osm_id, c.level, c.path, c.was::text)
        FROM geo_boundarychange c JOIN geo_boundary b ON b.id = c.boundary_id
    """,
}
# What refers to a boundary, deleted before it (Django's CASCADE is not in the database).
DEPENDENT_TABLES = (
    ("geo_boundaryshape", "boundary_id"),
    ("geo_boundaryalias", "boundary_id"),
    ("geo_boundarychange", "boundary_id"),
    ("geo_boundaryversion", "boundary_id"),
    ("geo_boundarylink", "predecessor_id"),
    ("geo_boundarylink", "successor_id"),
)


def database_digest() -> dict[str, str]:
    """Digest every table an import writes: table → md5 of its sorted rows (and count)."""
    from django.db import connection

    digests = {}
    with connection.cursor() as cursor:
        for table, rows in DIGEST_QUERIES.items():
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), ''))"
                f" FROM ({rows}) AS t(r)"
            )
            count, digest = cursor.fetchone()
            digests[table] = f"{count} rows {digest}"
    return digests


@dataclass
class Snapshot:
    """What is needed to bring the database back to the "before" state."""

    osm_ids: list[str]
    records: list[tuple[Any, ...]]

    @classmethod
    def take(cls) -> Snapshot:
        """Remember the boundaries present and every parsed-file record as it is."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT osm_id FROM geo_boundary")
            osm_ids = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT id, content_digest, level, simplified, label, features::text,"
                " quirks::text, updated_at FROM geo_parsedfilerecord"
            )
            return cls(osm_ids=osm_ids, records=cursor.fetchall())

    def restore(self) -> None:
        """Delete what a run added (it only adds: the baseline country is not in its input).

        Parsed-file records are put back whole: a run may have taken over one
        of byte-identical content (an empty file) and relabelled it.
        """
        from django.db import connection, transaction

        with transaction.atomic(), connection.cursor() as cursor:
            keep = "SELECT id FROM geo_boundary WHERE osm_id = ANY(%s)"
            for table, column in DEPENDENT_TABLES:
                cursor.execute(
                    f"DELETE FROM {table} WHERE {column} NOT IN ({keep})",
                    [self.osm_ids],
                )
            cursor.execute("DELETE FROM geo_boundary WHERE NOT (osm_id = ANY(%s))", [self.osm_ids])
            cursor.execute("DELETE FROM geo_parsedfilerecord")
            cursor.executemany(
                "INSERT INTO geo_parsedfilerecord (id, content_digest, level, simplified, label,"
                " features, quirks, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                self.records,
            )


def kill_moments(duration: float, count: int, seed: int) -> list[float]:
    """Draw ``count`` moments over ``duration`` seconds: one at random in each equal slice.

    The slices cover a little past the measured end, so a kill may also land
    just after the commit (the "after" side of the drill).
    """
    rng = random.Random(seed)
    span = duration * 1.05
    return [round(span * (i + rng.random()) / count, 3) for i in range(count)]


@dataclass
class Moment:
    """One kill: when, what the run was doing, what the database held afterwards."""

    delay: float
    stage: str
    outcome: str  # "before", "after", or "NEITHER"
    exit_code: int | None


@dataclass
class DrillResult:
    """A drill's figures."""

    duration: float
    moments: list[Moment] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        """How many moments ended in ``outcome``."""
        return sum(1 for m in self.moments if m.outcome == outcome)


def last_run_id() -> int:
    """The id of the newest import run record (0 when there is none)."""
    from geo.models import ImportRun

    run = ImportRun.objects.order_by("-pk").first()
    return run.pk if run else 0


def run_stage(after_run_id: int) -> str:
    """The progress stage of the run started after ``after_run_id`` (what a kill interrupted)."""
    from geo.models import ImportRun

    run = ImportRun.objects.filter(pk__gt=after_run_id).order_by("-pk").first()
    if run is None:
        return "starting"
    return f"{run.status}/{run.progress_stage or '-'}"


def drill(
    paths: Sequence[Path | str],
    *,
    moments: int,
    seed: int,
    env: dict[str, str],
    say: Callable[[str], None] = print,
) -> DrillResult:
    """Run the drill described in this module's docstring on the current database.

    The database must already hold the "before" state; it holds it again at the end.
    """
    command = [sys.executable, "manage.py", "import_geojson", *map(str, paths), "--wait", "-v", "0"]
    snapshot = Snapshot.take()
    before = database_digest()

    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    duration = time.monotonic() - started
    after = database_digest()
    if after == before:
        raise RuntimeError("the import changed nothing: pick input that is not yet imported")
    result = DrillResult(duration=duration, before=before, after=after)
    say(f"full run: {duration:.1f} s; {after['geo_boundary']}")
    snapshot.restore()
    if database_digest() != before:
        raise RuntimeError("could not restore the state before the import")

    for delay in kill_moments(duration, moments, seed):
        previous_run = last_run_id()
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        if process.poll() is None:
            # The whole group: the run's worker processes die with it, as on a crash.
            os.killpg(process.pid, signal.SIGKILL)
        exit_code = process.wait()
        # Read once the process is dead: its record is as the kill left it (read
        # before the kill, a record written in between was missed).
        stage = run_stage(previous_run)
        state = database_digest()
        outcome = "before" if state == before else "after" if state == after else "NEITHER"
        result.moments.append(Moment(delay, stage, outcome, exit_code))
        say(f"kill at {delay:6.2f} s  stage {stage:<24} exit {exit_code!s:>4}  → {outcome}")
        if outcome != "before":
            snapshot.restore()
    return result


def clear_database() -> None:
    """Remove every boundary and import record (refused when workspaces exist)."""
    from django.db import connection, transaction

    from geo.models import Workspace

    if Workspace.objects.exists():
        raise SystemExit("this database has workspaces: run the drill on a scratch database")
    with transaction.atomic(), connection.cursor() as cursor:
        for table, _ in DEPENDENT_TABLES:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM geo_boundary")
        cursor.execute("DELETE FROM geo_parsedfilerecord")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", default=[str(DEFAULT_DATA)])
    parser.add_argument("--moments", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--yes", action="store_true", help="clear the database's boundaries")
    args = parser.parse_args()
    if not args.yes:
        parser.error("the drill clears the boundaries of DATABASE_URL's database: pass --yes")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from geo.importing import import_geojson

    clear_database()
    import_geojson([BASELINE])
    print(f"before: fixtures/sample imported; input: {len(args.paths)} paths, {args.paths[0]} …")
    result = drill(args.paths, moments=args.moments, seed=args.seed, env=dict(os.environ))
    neither = result.count("NEITHER")
    print(
        f"\n{len(result.moments)} kills over a {result.duration:.1f} s run (seed {args.seed}): "
        f"{result.count('before')} left the state before, {result.count('after')} the state "
        f"after, {neither} anything else"
    )
    return 1 if neither else 0


if __name__ == "__main__":
    sys.exit(main())

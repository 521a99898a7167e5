"""Benchmark: import all posm-extracts countries, beside one ogr2ogr run as the floor.

    .venv/bin/python scripts/bench_import.py [--data DIR] [--runs 1] [--compare REF]

In one run, on fresh scratch databases, it measures:
- ogr2ogr loading the folder's files into one PostGIS table through an OGR VRT
  union layer (Debian's gdal-bin): the floor for moving these bytes. The
  union takes the first layer's fields (FieldStrategy FirstLayer): the files
  share their properties, and it is the fastest form (13 s vs 20 s for Union);
- ogr2ogr once per file (``-append``), as an operator loads a folder with it
  and as the RapidPro anchor took its ogr2ogr figure (the issue's 44.1 s is
  of that size, not a VRT run's) (``--no-per-file`` skips it: it takes as
  long as the import);
- ``manage.py import_geojson DIR`` into an empty database (validation, repair,
  hierarchy, coverage simplification included);
- the same import again, which changes nothing;
- with ``--compare REF``, the first import by the tree of a git ref too
  (``git archive``), in the same rounds, so a change is measured against what
  it changes;
and prints wall time, CPU time (of the command and its workers; wall time
follows the load of a shared machine), features/s, peak memory (the whole process tree, workers
included) and ratios against the floor. The scratch databases are dropped.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)
PG = {"host": "127.0.0.1", "port": "5432", "user": os.environ.get("PGUSER", "postgres")}
# Scratch databases named after this checkout's own (DATABASE_URL), so benchmarks
# run from several checkouts on one server never drop each other's.
_OWN = re.sub(r"\W", "_", os.environ.get("DATABASE_URL", "mipaka").rsplit("/", 1)[-1]) or "mipaka"
IMPORT_DB = f"{_OWN}_bench_import"
OGR_DB = f"{_OWN}_bench_ogr"
FILE_NAME = re.compile(r"^R\d+admin\d(_simplified)?\.json$")


def psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, "-tAc", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def fresh_database(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    psql("CREATE EXTENSION postgis", db=name)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(
                    (int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0
                )
            with open(f"/proc/{current}/task/{current}/children") as children:
                pids.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished children and the descendants they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, float, float, str]:
    """Run a command; return (wall seconds, peak tree RSS MB, CPU seconds, stdout).

    The CPU seconds are the command's and its workers', not the database server's.
    """
    peak = 0.0
    cpu_before = children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{err[-2000:]}")
    return wall, peak, cpu, out


def union_vrt(files: list[Path], folder: Path) -> Path:
    layers = "\n".join(
        f'    <OGRVRTLayer name="l{i}"><SrcDataSource>{escape(str(f))}</SrcDataSource>'
        f"<SrcLayer>{escape(f.stem)}</SrcLayer></OGRVRTLayer>"
        for i, f in enumerate(files)
    )
    vrt = folder / "union.vrt"
    vrt.write_text(
        f'<OGRVRTDataSource>\n  <OGRVRTUnionLayer name="boundaries">\n{layers}\n'
        "    <FieldStrategy>FirstLayer</FieldStrategy>\n  </OGRVRTUnionLayer>\n</OGRVRTDataSource>\n"
    )
    return vrt


def ogr2ogr_command(source: Path, db: str, *options: str) -> list[str]:
    """ogr2ogr loading ``source`` into ``db``'s table ``boundaries`` by COPY, as multipolygons."""
    return [
        "ogr2ogr", "-f", "PostgreSQL", f"PG:host={PG['host']} port={PG['port']} user={PG['user']} dbname={db}",
        str(source), *options, "-nln", "boundaries", "-nlt", "PROMOTE_TO_MULTI",
        "-lco", "GEOMETRY_NAME=geom", "--config", "PG_USE_COPY", "YES",
    ]  # fmt: skip


def ogr2ogr(vrt: Path, db: str) -> tuple[float, float, float, int]:
    fresh_database(db)
    wall, peak, cpu, _ = timed(ogr2ogr_command(vrt, db))
    rows = int(psql("SELECT count(*) FROM boundaries", db=db))
    return wall, peak, cpu, rows


def ogr2ogr_per_file(files: list[Path], db: str) -> tuple[float, float, float, int]:
    """Load ``files`` with one ogr2ogr call each: (wall s, peak MB, CPU s, rows)."""
    fresh_database(db)
    walls, peaks, cpus = [], [], []
    for path in files:
        wall, peak, cpu, _ = timed(ogr2ogr_command(path, db, "-append"))
        walls.append(wall)
        peaks.append(peak)
        cpus.append(cpu)
    rows = int(psql("SELECT count(*) FROM boundaries", db=db))
    return sum(walls), max(peaks), sum(cpus), rows


def first_import(tree: Path, data: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Import ``data`` with ``tree``'s code into an empty database: (wall s, peak MB, CPU s)."""
    psql(f"DROP DATABASE IF EXISTS {IMPORT_DB}")
    psql(f"CREATE DATABASE {IMPORT_DB}")
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=tree, env=env, check=True)
    wall, peak, seconds, _ = timed(
        [python, "manage.py", "import_geojson", str(data), "--no-tiles"], env=env, cwd=tree
    )
    return wall, peak, seconds


def main() -> None:  # noqa: PLR0915  (a script: one straight sequence of measurements)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat each measurement, report the median"
    )
    parser.add_argument(
        "--compare", default="", help="git ref whose first import is measured beside this tree's"
    )
    parser.add_argument(
        "--no-per-file",
        dest="per_file",
        action="store_false",
        help="skip the baseline of one ogr2ogr call per file",
    )
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        sys.exit("ogr2ogr not found: apt-get install gdal-bin")
    files = sorted(p for p in args.data.iterdir() if FILE_NAME.match(p.name))
    countries = {p.name.split("admin")[0] for p in files}
    print(f"data: {args.data}: {len(countries)} countries, {len(files)} files, "
          f"{sum(p.stat().st_size for p in files) / 1e6:.1f} MB")  # fmt: skip

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from bench import export_tree, local_environment

    local_environment()
    import django

    django.setup()
    from geo.importing.sources import discover_sources

    chosen = [Path(s.label) for s in discover_sources([args.data]).files]
    env = dict(
        os.environ, DATABASE_URL=f"postgis://{PG['user']}@{PG['host']}:{PG['port']}/{IMPORT_DB}"
    )

    # On a shared machine wall time follows the load; CPU time much less so.
    keys = ("ogr_all", "ogr_chosen", "ogr_per_file", "import", "reimport", "compare")
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    rows: dict[str, int] = {}
    features = 0
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "all").mkdir()
        all_vrt = union_vrt(files, Path(scratch) / "all")
        (Path(scratch) / "chosen").mkdir()
        chosen_vrt = union_vrt(chosen, Path(scratch) / "chosen")
        reference = export_tree(args.compare, Path(scratch) / "ref") if args.compare else None
        for _ in range(args.runs):
            wall, peak, seconds, rows["ogr_all"] = ogr2ogr(all_vrt, OGR_DB)
            results["ogr_all"].append((wall, peak))
            cpu["ogr_all"].append(seconds)
            wall, peak, seconds, rows["ogr_chosen"] = ogr2ogr(chosen_vrt, OGR_DB)
            results["ogr_chosen"].append((wall, peak))
            cpu["ogr_chosen"].append(seconds)
            if args.per_file:
                wall, peak, seconds, rows["ogr_per_file"] = ogr2ogr_per_file(files, OGR_DB)
                results["ogr_per_file"].append((wall, peak))
                cpu["ogr_per_file"].append(seconds)

            psql(f"DROP DATABASE IF EXISTS {IMPORT_DB}")
            psql(f"CREATE DATABASE {IMPORT_DB}")
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
            # The import alone: the tiles it pre-renders afterwards are bench_maps' to time.
            manage = [sys.executable, "manage.py", "import_geojson", str(args.data), "--no-tiles"]
            wall, peak, seconds, out = timed(manage, env=env)
            results["import"].append((wall, peak))
            cpu["import"].append(seconds)
            features = int(re.search(r"features read\s+(\d+)", out).group(1))  # type: ignore[union-attr]
            rows["import"] = int(psql("SELECT count(*) FROM geo_boundary", db=IMPORT_DB))
            wall, peak, seconds, out = timed(manage, env=env)
            assert "no changes" in out, out[-500:]
            results["reimport"].append((wall, peak))
            cpu["reimport"].append(seconds)
            if reference is not None:
                wall, peak, seconds = first_import(reference, args.data, env)
                results["compare"].append((wall, peak))
                cpu["compare"].append(seconds)
                rows["compare"] = int(psql("SELECT count(*) FROM geo_boundary", db=IMPORT_DB))
    psql(f"DROP DATABASE IF EXISTS {IMPORT_DB}")
    psql(f"DROP DATABASE IF EXISTS {OGR_DB}")

    def median(key: str) -> tuple[float, float]:
        walls, peaks = zip(*results[key], strict=True)
        return statistics.median(walls), max(peaks)

    floor, _ = median("ogr_all")
    chosen_floor, _ = median("ogr_chosen")
    first, first_mb = median("import")
    again, again_mb = median("reimport")
    rows_of = {
        "ogr_all": rows["ogr_all"],
        "ogr_chosen": rows["ogr_chosen"],
        "ogr_per_file": rows.get("ogr_per_file", 0),
        "import": rows["import"],
        "reimport": rows["import"],
        "compare": rows.get("compare", 0),
    }
    labels = {
        "ogr_all": f"ogr2ogr, VRT union of all {len(files)} files (floor)",
        "ogr_chosen": f"ogr2ogr, VRT union of the {len(chosen)} files the import reads",
        "ogr_per_file": f"ogr2ogr, one call per file ({len(files)} calls)",
        "import": "import_geojson, empty database",
        "reimport": "import_geojson again, no change",
        "compare": f"import_geojson of {args.compare}, empty database",
    }
    print(f"\n{'what':<58}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}{'rows':>7}")
    for key, label in labels.items():
        if not results[key]:
            continue
        wall, peak_mb = median(key)
        print(
            f"{label:<58}{wall:>8.2f}{statistics.median(cpu[key]):>8.2f}{peak_mb:>9.0f}{rows_of[key]:>7}"
        )
    print(f"\nfeatures read: {features}, {features / first:,.0f} features/s on the first import")
    print(f"import / ogr2ogr(all files)        = {first / floor:.2f}x  (goal <= 1.0x)")
    print(f"import / ogr2ogr(files it reads)   = {first / chosen_floor:.2f}x")
    if results["ogr_per_file"]:
        per_file, _ = median("ogr_per_file")
        print(
            f"import / ogr2ogr(one call per file) = {first / per_file:.2f}x"
            "  (goal <= 1.0x; the RapidPro anchor took its ogr2ogr figure so)"
        )
    print(
        f"CPU: import / ogr2ogr(all files)   = "
        f"{statistics.median(cpu['import']) / statistics.median(cpu['ogr_all']):.2f}x"
        "  (client side: the database server's CPU is in neither)"
    )
    print(f"no-change re-import / first import = {again / first:.2f}x  (goal <= 0.25x)")
    print(
        f"peak memory of the import          = {max(first_mb, again_mb):.0f} MB  (goal < 2048 MB)"
    )
    if args.compare:
        ref_wall, ref_mb = median("compare")
        print(
            f"this tree / {args.compare}, first import = {first / ref_wall:.2f}x wall"
            f" ({first:.2f} s vs {ref_wall:.2f} s), "
            f"{statistics.median(cpu['import']) / statistics.median(cpu['compare']):.2f}x CPU,"
            f" peak {first_mb:.0f} vs {ref_mb:.0f} MB"
        )
    print(f"runs per figure: {args.runs} (median wall, max peak)")


if __name__ == "__main__":
    main()

"""The lookup index of one import version, as files every web worker of a host maps.

An index is built once per import version and database, by one process of
the host, into ``MIPAKA_INDEX_DIR/<database>/v<version>.f<format>/``:
the point index's arrays as ``.npy`` files, which workers map read-only
(the OS page cache holds one copy for all of them), and the hierarchy as a
pickle (small; each worker unpickles its own copy in a fraction of a
second instead of rebuilding the name indexes).

A build writes into a temporary directory beside the others and renames it
into place, so a version directory is either complete or absent, also when
the builder is killed. A file lock lets one process of the host build
while the others wait (in the background: they keep serving the previous
version meanwhile). Old versions are removed once a newer one is built; a
worker still mapping one keeps its pages until it lets go (POSIX unlink).

Files are keyed by the database and the id of the import that produced the
data: restoring a different database under the same name calls for emptying
the directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from geo.lookup.hierarchy import Hierarchy
from geo.lookup.points import PointIndex

logger = logging.getLogger(__name__)

# Bumped when the layout of the files changes: old builds are then ignored.
FORMAT = 4
# Complete versions kept beside the newest (a lagging worker may still map one).
KEEP_OLDER = 1
HIERARCHY_FILE = "hierarchy.pickle"
# Niceness of a build started by a serving process (its workers keep the CPU first).
BUILD_NICENESS = 10
# A built index's folder: v<version>.f<format> (other formats are removed like old versions).
_INDEX_DIR = re.compile(r"^v(\d+)\.f(\d+)$")


def index_root() -> Path:
    """Return this database's folder under ``MIPAKA_INDEX_DIR`` (created if missing)."""
    db = settings.DATABASES["default"]
    where = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{db['NAME']}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(db["NAME"]))
    root = (
        Path(settings.MIPAKA_INDEX_DIR) / f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


def version_dir(root: Path, version: int) -> Path:
    """Return where the index of ``version`` lives (whether built or not)."""
    return root / f"v{version}.f{FORMAT}"


def built_versions(root: Path) -> list[int]:
    """Return the versions whose index is complete, oldest first."""
    versions = []
    for entry in root.iterdir():
        match = _INDEX_DIR.match(entry.name)
        if match and int(match[2]) == FORMAT and entry.is_dir():
            versions.append(int(match[1]))
    return sorted(versions)


def ensure_index(version: int, *, in_subprocess: bool = False) -> tuple[int, Path]:
    """Return ``(version, directory)`` of an index at least as new as ``version``.

    Builds the newest version's index unless one exists (holding the host's
    build lock, so concurrent callers build once). ``in_subprocess`` builds
    in a ``manage.py build_lookup_index`` child, so a serving process spends
    neither its memory nor its interpreter lock on the build.

    Raises
    ------
    django.db.Error
        The database could not be read (no index built).
    subprocess.CalledProcessError
        The child build failed.
    """
    root = index_root()
    newest = max(built_versions(root), default=-1)
    if newest >= version:
        return newest, version_dir(root, newest)
    if in_subprocess:
        # Background work beside the workers answering requests: it yields the CPU to them.
        subprocess.run(  # noqa: S603 (a fixed command)
            [  # noqa: S607 (coreutils' nice, on every host)
                "nice",
                f"-n{BUILD_NICENESS}",
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "build_lookup_index",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        newest = max(built_versions(root), default=-1)
        return newest, version_dir(root, newest)
    return build_index(root)


def build_index(root: Path) -> tuple[int, Path]:
    """Build the index of the newest import unless it exists; return its version and folder."""
    from geo.lookup.snapshot import data_version  # noqa: PLC0415 (snapshot imports this module)

    with _build_lock(root):
        version = data_version()
        target = version_dir(root, version)
        if not target.is_dir():
            version, hierarchy, points = _read_database()
            target = version_dir(root, version)
            started = time.monotonic()
            building = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
            try:
                building.chmod(0o755)
                points.save(building)
                with (building / HIERARCHY_FILE).open("wb") as out:
                    pickle.dump(hierarchy, out, protocol=pickle.HIGHEST_PROTOCOL)
                for path in building.iterdir():
                    _fsync(path)
                os.rename(building, target)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
            logger.info(
                "lookup index v%s built in %.1f s: %s", version, time.monotonic() - started, target
            )
        _remove_old(root, keep_from=version)
    return version, target


def open_index(directory: Path) -> tuple[Hierarchy, PointIndex]:
    """Read a built index: the hierarchy in memory, the point index mapped read-only."""
    # The pickle is written by build_index into a folder only this service writes.
    hierarchy = pickle.loads((directory / HIERARCHY_FILE).read_bytes())  # noqa: S301
    return hierarchy, PointIndex.load(directory, mmap=True)


def newest_index() -> tuple[int, Path] | None:
    """Return the newest built version of this database's index, if any (no database needed)."""
    root = index_root()
    versions = built_versions(root)
    return (versions[-1], version_dir(root, versions[-1])) if versions else None


def _read_database() -> tuple[int, Hierarchy, PointIndex]:
    """Read the version, the hierarchy and the point index from one database snapshot."""
    from geo.lookup.snapshot import data_version  # noqa: PLC0415 (snapshot imports this module)

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            # One snapshot for the three reads: an import committing meanwhile
            # cannot give version N's folder the data of N + 1.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        version = data_version()
        return version, Hierarchy.from_database(version=version), PointIndex.from_database()


@contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    with (root / ".build.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_old(root: Path, *, keep_from: int) -> None:
    versions = [v for v in built_versions(root) if v <= keep_from]
    for version in versions[: -(KEEP_OLDER + 1)]:
        shutil.rmtree(version_dir(root, version), ignore_errors=True)
    for entry in root.iterdir():
        # Another format's folders (an upgrade's, or a downgrade's) up to this
        # version: this code never reads them. A worker of the other code still
        # mapping their files keeps its mapping (unlinked pages live on until unmapped).
        match = _INDEX_DIR.match(entry.name)
        if match and int(match[2]) != FORMAT and int(match[1]) <= keep_from:
            shutil.rmtree(entry, ignore_errors=True)
    for entry in root.glob(".build-*"):
        # Left by a killed builder: the lock is ours, so nobody is writing there.
        shutil.rmtree(entry, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

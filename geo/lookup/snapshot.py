"""Per-process lookup data, refreshed when an import or an alias edit commits.

A process answers from a ``Snapshot``: the hierarchy and the point index of
one import version, swapped whole by assigning one reference. There are two
ways to keep it fresh:

- **In a web worker** (``config/gunicorn.conf.py``), ``start_background_refresh``
  loads the snapshot before the worker takes traffic, then a daemon thread
  checks every ``REFRESH_SECONDS`` for a newer import, builds or opens the
  new index beside the old one and swaps. A request only reads the
  reference: it never waits for a load, and never queries the database for
  it.
- **Anywhere else** (tests, management commands, ``runserver``), the first
  call loads on demand and later calls check the version at most every
  ``REFRESH_SECONDS``, on the calling thread.

With ``MIPAKA_SHARED_INDEX`` on (the default) the snapshot comes from the
host's index files (``geo.lookup.shared_index``): the point index is mapped,
not copied, so every worker of a host shares one copy. Off, each process
builds its own from the database.

Once loaded, a snapshot does not need the database: when the version check
fails, the current snapshot keeps being served and the failure is logged
once, until the database answers again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection

from geo.exceptions import Unavailable
from geo.lookup.hierarchy import Hierarchy, NameIndex, alias_index
from geo.models import BoundaryAlias, ImportStatus

if TYPE_CHECKING:
    from geo.lookup.points import PointIndex
    from geo.workspaces import WorkspaceAccess

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


def data_version() -> int:
    """Return the id of the last import that changed boundaries (0: none yet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(max(id), 0) FROM geo_importrun WHERE status = %s",
            [ImportStatus.SUCCEEDED],
        )
        (version,) = cursor.fetchone()
    return int(version)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The lookup data of one import version, as one process holds it."""

    version: int
    hierarchy: Hierarchy
    # None until first asked for, when built per process (nothing to share).
    points: PointIndex | None
    loaded_at: float = field(default_factory=time.time)
    # The folder of the mapped index files; None when built in this process.
    shared_from: str | None = None


class LookupData:
    """The snapshot one process answers from, and how it is kept fresh."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._checked_at = float("-inf")
        self._aliases: dict[tuple[int, int, int], NameIndex] = {}
        self._refresher: threading.Thread | None = None
        self._stop = threading.Event()
        self.database_reachable: bool | None = None

    @property
    def background(self) -> bool:
        """Tell whether a background thread keeps the snapshot fresh (web workers)."""
        return self._refresher is not None

    def current(self) -> Snapshot | None:
        """Return the snapshot being served, without loading anything (health checks)."""
        return self._snapshot

    def hierarchy(self) -> Hierarchy:
        """Return the current boundary hierarchy."""
        return self._serve(points=False).hierarchy

    def points(self) -> PointIndex:
        """Return the current point index."""
        points = self._serve(points=True).points
        assert points is not None
        return points

    def serving(self, *, points: bool = False) -> Snapshot:
        """Return the snapshot to answer from, with its point index if ``points``.

        One call, so a hierarchy and an index read together are of one import
        even when a newer one is swapped in meanwhile.
        """
        snapshot = self._serve(points=points)
        assert not points or snapshot.points is not None
        return snapshot

    def aliases(self, access: WorkspaceAccess, hierarchy: Hierarchy | None = None) -> NameIndex:
        """Return the workspace's alias index, rebuilt when its aliases or the boundaries change.

        ``hierarchy``: the snapshot the caller already holds, so that the index
        is built on the very places it will be matched with, even when a new
        import is swapped in between the two calls. If the database cannot be
        read, the workspace's previous index is kept (lookups go on; new
        aliases show once it answers).
        """
        if hierarchy is None:
            hierarchy = self.hierarchy()
        key = (access.id, access.aliases_version, hierarchy.version)
        with self._lock:
            index = self._aliases.get(key)
            if index is not None:
                return index
            try:
                rows = list(
                    BoundaryAlias.objects.filter(workspace_id=access.id).values_list(
                        "boundary_id", "name"
                    )
                )
            except DatabaseError as exc:
                stale = [v for k, v in self._aliases.items() if k[0] == access.id]
                if stale:
                    return stale[0]
                raise Unavailable("the database is unreachable; try again shortly") from exc
            index = alias_index(hierarchy, rows)
            self._aliases = {k: v for k, v in self._aliases.items() if k[0] != access.id}
            self._aliases[key] = index
            return index

    def forget(self) -> None:
        """Drop everything; the next call reloads (tests, and after an import in-process)."""
        with self._lock:
            self._checked_at = float("-inf")
            self._snapshot = None
            self._aliases.clear()

    def start_background_refresh(self, *, interval: float = REFRESH_SECONDS) -> None:
        """Load the snapshot now, then keep it fresh from a daemon thread.

        For web workers, before they take traffic: from then on requests
        only read the current snapshot. A first load that fails (no database
        and no index files yet) is retried by the thread; until it succeeds
        lookups answer 503 and ``/ready`` says so.
        """
        if self._refresher is not None:
            return
        self._stop.clear()
        self.refresh(background=True)
        self._refresher = threading.Thread(
            target=self._run, args=(interval,), name="lookup-refresh", daemon=True
        )
        self._refresher.start()

    def stop_background_refresh(self) -> None:
        """Stop the refresher thread (tests); calls load on demand again."""
        thread, self._refresher = self._refresher, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def refresh(self, *, background: bool = False) -> Snapshot | None:
        """Check the version once and load a newer snapshot if there is one.

        Never raises for an unreachable database: the current snapshot (or,
        with none yet, the newest index files of this host) is kept.
        ``background`` (the refresher) builds index files in a child process
        and logs a failed load instead of raising it.
        """
        try:
            version = data_version()
        except DatabaseError as exc:
            self._database_down(exc)
            if self._snapshot is None:
                self._load_newest_files()
            return self._snapshot
        self._database_up()
        current = self._snapshot
        if current is None or current.version != version:
            try:
                snapshot = self._load(version, background=background)
            except Exception:
                if not background:
                    raise
                logger.exception("loading the lookup index of import %s failed", version)
                return self._snapshot
            with self._lock:
                self._snapshot = snapshot
                self._aliases.clear()
            if background:
                # A worker keeps its snapshot until the next import: out of the
                # cyclic collector's sight, a full collection no longer walks its
                # ~10^5 objects (60-140 ms, in the middle of some request). The
                # old snapshot is still freed by reference counting (it holds
                # about a hundred small cycles, which stay: bytes per import).
                gc.freeze()
        return self._snapshot

    def _serve(self, *, points: bool) -> Snapshot:
        snapshot = self._snapshot
        if self._refresher is not None:
            # A web worker: whatever is loaded, never a load on this thread.
            if snapshot is None:
                raise Unavailable("the lookup index is still loading; try again shortly")
            return snapshot
        with self._lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._checked_at >= REFRESH_SECONDS:
                self._checked_at = now
                if self.refresh() is None:
                    raise Unavailable("the lookup index could not be loaded; try again shortly")
            snapshot = self._snapshot
            assert snapshot is not None
            if points and snapshot.points is None:
                from geo.lookup.points import PointIndex  # noqa: PLC0415 (only workers that locate)

                snapshot = replace(snapshot, points=PointIndex.from_database())
                self._snapshot = snapshot
            return snapshot

    def _load(self, version: int, *, background: bool) -> Snapshot:
        if not settings.MIPAKA_SHARED_INDEX:
            hierarchy = Hierarchy.from_database(version=version)
            points = None
            if background:
                from geo.lookup.points import PointIndex  # noqa: PLC0415

                points = PointIndex.from_database()
            return Snapshot(version=version, hierarchy=hierarchy, points=points)
        from geo.lookup import shared_index  # noqa: PLC0415 (numpy files only when shared)

        built, directory = shared_index.ensure_index(version, in_subprocess=background)
        hierarchy, points = shared_index.open_index(directory)
        return Snapshot(
            version=built, hierarchy=hierarchy, points=points, shared_from=str(directory)
        )

    def _load_newest_files(self) -> None:
        if not settings.MIPAKA_SHARED_INDEX:
            return
        from geo.lookup import shared_index  # noqa: PLC0415

        newest = shared_index.newest_index()
        if newest is not None:
            version, directory = newest
            hierarchy, points = shared_index.open_index(directory)
            logger.warning("database unreachable: serving the index files of import %s", version)
            self._snapshot = Snapshot(
                version=version, hierarchy=hierarchy, points=points, shared_from=str(directory)
            )

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh(background=True)
            except Exception:
                logger.exception("lookup refresh failed; serving the current index")
        connection.close()

    def _database_down(self, exc: BaseException) -> None:
        if self.database_reachable is not False:
            logger.warning("database unreachable, serving the loaded lookup index: %s", exc)
        self.database_reachable = False
        with contextlib.suppress(DatabaseError):
            connection.close()

    def _database_up(self) -> None:
        if self.database_reachable is False:
            logger.warning("database reachable again")
        self.database_reachable = True


lookup_data = LookupData()

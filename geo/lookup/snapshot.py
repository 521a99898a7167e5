"""Per-process lookup data, refreshed when an import or an alias edit commits.

Every worker keeps the hierarchy (and, once asked, the point index) in
memory. Before answering it checks, at most every ``REFRESH_SECONDS``, the id
of the last import that changed boundaries; a newer one makes it reload. So
after an import every worker answers from the new data within seconds,
without a restart and without a query per request.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from django.db import connection

from geo.lookup.hierarchy import Hierarchy, NameIndex, alias_index
from geo.models import BoundaryAlias, ImportStatus

if TYPE_CHECKING:
    from geo.lookup.points import PointIndex
    from geo.workspaces import WorkspaceAccess

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


class LookupData:
    """The snapshots one process answers from."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._checked_at = float("-inf")
        self._version = -1
        self._hierarchy: Hierarchy | None = None
        self._points: PointIndex | None = None
        self._aliases: dict[tuple[int, int, int], NameIndex] = {}

    def hierarchy(self) -> Hierarchy:
        """Return the current boundary hierarchy."""
        with self._lock:
            self._refresh()
            assert self._hierarchy is not None
            return self._hierarchy

    def points(self) -> PointIndex:
        """Return the current point index, built on first use."""
        from geo.lookup.points import PointIndex  # noqa: PLC0415 (loaded only by workers that locate)

        with self._lock:
            self._refresh()
            if self._points is None:
                self._points = PointIndex.from_database()
            return self._points

    def aliases(self, access: WorkspaceAccess) -> NameIndex:
        """Return the workspace's alias index, rebuilt when its aliases or the boundaries change."""
        hierarchy = self.hierarchy()
        key = (access.id, access.aliases_version, hierarchy.version)
        with self._lock:
            index = self._aliases.get(key)
            if index is None:
                rows = BoundaryAlias.objects.filter(workspace_id=access.id).values_list(
                    "boundary_id", "name"
                )
                index = alias_index(hierarchy, rows)
                self._aliases = {k: v for k, v in self._aliases.items() if k[0] != access.id}
                self._aliases[key] = index
            return index

    def forget(self) -> None:
        """Drop everything; the next call reloads (tests, and after an import in-process)."""
        with self._lock:
            self._checked_at = float("-inf")
            self._version = -1
            self._hierarchy = None
            self._points = None
            self._aliases.clear()

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._hierarchy is not None and now - self._checked_at < REFRESH_SECONDS:
            return
        self._checked_at = now
        version = data_version()
        if version != self._version or self._hierarchy is None:
            self._hierarchy = Hierarchy.from_database(version=version)
            self._points = None
            self._aliases.clear()
            self._version = version


lookup_data = LookupData()

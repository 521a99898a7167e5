"""``manage.py build_lookup_index``: build the host's lookup index files for the newest import."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import Error as DatabaseError

from geo.lookup import shared_index


class Command(BaseCommand):
    """Build (unless built) the index files web workers map; prints the folder last."""

    help = (
        "Build the lookup index of the newest import into MIPAKA_INDEX_DIR, unless a process"
        " of this host already has. Web workers run it themselves after an import; run it"
        " before starting them to have them answer at once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Build, or find, the newest version's files."""
        if not settings.MIPAKA_SHARED_INDEX:
            raise CommandError("MIPAKA_SHARED_INDEX is off: every process builds its own index")
        started = time.monotonic()
        try:
            version, directory = shared_index.build_index(shared_index.index_root())
        except DatabaseError as exc:
            raise CommandError(f"database unreachable: {exc}".strip()) from exc
        self.stdout.write(
            f"lookup index of import {version} ready in {time.monotonic() - started:.1f} s"
        )
        self.stdout.write(str(directory))

"""``manage.py delete_old_uploads [--days N]``: free the database of old import files."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from geo.importing.jobs import delete_old_uploads


class Command(BaseCommand):
    """Delete the bytes of uploaded import files older than the retention, as each job does."""

    help = (
        "Delete the bytes of uploaded import files older than --days (default"
        " MIPAKA_UPLOAD_RETENTION_DAYS) that no queued or running job needs; their"
        " names, sizes and digests stay. Every finished import job does this too."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the command's options."""
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        """Delete, and say how much was freed."""
        days = settings.MIPAKA_UPLOAD_RETENTION_DAYS if options["days"] is None else options["days"]
        if days < 1:
            raise CommandError(f"--days: {days} keeps every file; give 1 or more")
        deleted = delete_old_uploads(days=days)
        self.stdout.write(
            f"Deleted {deleted.uploads} uploaded file(s) older than {days} days"
            f" ({deleted.bytes:,} bytes)."
        )

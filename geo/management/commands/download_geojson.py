"""``manage.py download_geojson R171496 …``: a thin shell over ``geo.importing.download``."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.exceptions import GeoError
from geo.importing.countries import resolve_relations
from geo.importing.download import DEFAULT_BASE_URL, download_country, make_session


class Command(BaseCommand):
    """Fetch countries' posm-extracts files; GeoError becomes a one-line CommandError."""

    help = "Download countries' posm-extracts GeoJSON files (validated, written atomically)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the command's options."""
        parser.add_argument(
            "relations",
            nargs="+",
            metavar="country",
            help="OSM relation ids (R171496), ISO 3166 codes (RW, RWA) or country names (rwanda)",
        )
        parser.add_argument(
            "--base-url", default=DEFAULT_BASE_URL, help="repository folder or mirror URL"
        )
        parser.add_argument(
            "--dir", default="geojson", help="where to write the files (default: geojson)"
        )
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="seconds per connection and read"
        )
        parser.add_argument("--retries", type=int, default=3, help="retries of failed requests")
        parser.add_argument(
            "--simplified-only", action="store_true", help="fetch only _simplified files"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Download each country, all or nothing per country."""
        session = make_session(retries=options["retries"])
        directory = Path(options["dir"])
        try:
            relations = resolve_relations(options["relations"])
            for relation in relations:
                result = download_country(
                    relation,
                    directory=directory,
                    base_url=options["base_url"],
                    timeout=options["timeout"],
                    retries=options["retries"],
                    simplified_only=options["simplified_only"],
                    session=session,
                    progress=(lambda name: self.stderr.write(f"fetching {name}"))
                    if options["verbosity"] > 1
                    else None,
                )
                for path, size in result.written:
                    self.stdout.write(f"wrote {path} ({size:,} bytes)")
                for name in result.missing:
                    self.stdout.write(f"not in the repository: {name}")
        except GeoError as exc:
            raise CommandError(exc.message) from exc

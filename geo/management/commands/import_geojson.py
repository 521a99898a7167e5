"""``manage.py import_geojson``: a thin shell over ``geo.importing.import_geojson``."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from geo import audit
from geo.exceptions import GeoError
from geo.importing import ImportReport, import_geojson
from geo.importing.geometry import DEFAULT_TOLERANCE_DEG
from geo.lookup.tiles import PRERENDER_MAX_ZOOM, prerender_after_import
from geo.models import AuditAction


class TerminalProgress:
    """A tqdm bar per stage, shown only on a terminal."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def start(self, stage: str, total: int) -> None:
        """Close the previous stage's bar and open one for this stage."""
        self.close()
        self.bar = tqdm(total=total, desc=f"{stage:<9}", unit="", leave=False, file=sys.stderr)

    def advance(self, amount: int = 1) -> None:
        """Move the bar."""
        if self.bar is not None:
            self.bar.update(amount)

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def record_import(
    actor: audit.Actor,
    *,
    paths: list[str],
    outcome: str,
    run_id: int | None = None,
    changes: dict[str, int] | None = None,
    error: str = "",
) -> None:
    """Write the audit event of an import run (imports change every workspace's boundaries)."""
    audit.record(
        AuditAction.IMPORT,
        actor=actor,
        target=f"import #{run_id}" if run_id is not None else "import",
        details={
            "outcome": outcome,
            "paths": paths,
            "changes": changes or {},
            "error": error.splitlines()[0] if error else "",
        },
    )


class ImportCommand(BaseCommand):
    """An import command: shared options, progress and output; ``run`` chooses the reader.

    GeoError becomes a one-line CommandError (no traceback).
    """

    name = "import"
    country_help = "import only this country (e.g. R171496)"

    def run(self, options: dict[str, Any], progress: TerminalProgress | None) -> ImportReport:
        """Run the import the command stands for."""
        raise NotImplementedError

    @staticmethod
    def import_options(options: dict[str, Any]) -> dict[str, Any]:
        """Return the options every import function takes, from the shared command options."""
        return {
            "country": options["country"],
            "dry_run": options["dry_run"],
            "skip_invalid": options["skip_invalid"],
            "allow_alias_removal": options["allow_alias_removal"],
            "wait": options["wait"],
            "tolerance_deg": options["tolerance"],
        }

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the options every import command takes."""
        parser.add_argument("paths", nargs="+", help="files, folders or zip archives")
        parser.add_argument("--country", help=self.country_help)
        parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the valid features and list the broken ones, instead of stopping",
        )
        parser.add_argument(
            "--allow-alias-removal",
            action="store_true",
            help="allow retiring boundaries that carry workspace aliases (their aliases stop matching)",
        )
        parser.add_argument(
            "--wait", action="store_true", help="wait for a running import instead of refusing"
        )
        parser.add_argument(
            "--no-tiles",
            action="store_true",
            help="do not pre-render the new import's low-zoom map tiles afterwards"
            " (maps then render them on first request)",
        )
        parser.add_argument(
            "--tolerance",
            type=float,
            default=DEFAULT_TOLERANCE_DEG,
            help=f"simplification tolerance in degrees (default {DEFAULT_TOLERANCE_DEG})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the import and print its diff and summary."""
        progress = TerminalProgress() if sys.stderr.isatty() and options["verbosity"] > 0 else None
        actor = audit.command_line(self.name)
        try:
            report = self.run(options, progress)
        except GeoError as exc:
            record_import(actor, paths=options["paths"], outcome="refused", error=exc.message)
            raise CommandError(exc.message) from exc
        finally:
            if progress:
                progress.close()
        record_import(
            actor,
            paths=options["paths"],
            outcome="dry run" if report.dry_run else "imported",
            run_id=report.run_id,
            changes=dict(report.counts()),
        )
        self._print_report(report, verbosity=options["verbosity"])
        if report.made_new_version and not options["no_tiles"]:
            self._prerender_tiles(report.run_id, verbosity=options["verbosity"])

    def _prerender_tiles(self, version: int, *, verbosity: int) -> None:
        """Render the new import's low-zoom tiles (it has committed: lookups already see it)."""
        bar = TerminalProgress() if sys.stderr.isatty() and verbosity > 0 else None
        shown = 0

        def moved(done: int, total: int) -> None:
            nonlocal shown
            if bar is not None:
                if bar.bar is None:
                    bar.start("tiles", total)
                bar.advance(done - shown)
                shown = done

        try:
            tiles = prerender_after_import(version, progress=moved)
        finally:
            if bar is not None:
                bar.close()
        if verbosity > 0 and tiles is not None:
            self.stdout.write(
                f"Tiles z0-z{PRERENDER_MAX_ZOOM} pre-rendered into the shared cache:"
                f" {tiles.tiles} ({tiles.rendered} with boundaries) in {tiles.seconds:.1f} s"
            )

    def _print_report(self, report: ImportReport, *, verbosity: int) -> None:
        if verbosity == 0:
            return
        self._print_details(report, verbosity=verbosity)
        self._print_summary(report)

    def _print_details(self, report: ImportReport, *, verbosity: int) -> None:
        write = self.stdout.write
        if verbosity > 1:
            for line in report.file_lines:
                write(f"read {line}")
        limit = None if verbosity > 1 else 50
        entries = report.diff if limit is None else report.diff[:limit]
        for entry in entries:
            write(str(entry))
        if limit is not None and len(report.diff) > limit:
            write(f"… and {len(report.diff) - limit} more changes (-v 2 lists them all)")
        if verbosity > 2:
            for entry in report.unchanged_entries:
                write(str(entry))
        for line in report.skipped if verbosity > 1 else report.skipped[:20]:
            write(f"skipped: {line}")
        if verbosity <= 1 and len(report.skipped) > 20:
            write(f"… and {len(report.skipped) - 20} more skipped (-v 2 lists them all)")
        for line in report.notes if verbosity > 1 else report.notes[:20]:
            write(f"note: {line}")
        if verbosity <= 1 and len(report.notes) > 20:
            write(f"… and {len(report.notes) - 20} more notes (-v 2 lists them all)")

    def _print_summary(self, report: ImportReport) -> None:
        write = self.stdout.write
        counts = report.counts()
        rows = [
            ("files read", len(report.files)),
            ("  parsed (new content)", report.files_parsed),
            ("features read", report.features_read),
            *((f"  {kind}", n) for kind, n in sorted(counts.items())),
            ("unchanged", report.unchanged),
            ("simplified (again)", report.simplified),
            ("boundaries after", report.total_after),
            *((f"quirk: {name.replace('_', ' ')}", n) for name, n in sorted(report.quirks.items())),
            ("skipped", len(report.skipped)),
            ("seconds", f"{report.seconds:.1f}"),
        ]
        width = max(len(label) for label, _ in rows)
        write("")
        for label, value in rows:
            write(f"{label:<{width}}  {value:>8}")
        if report.dry_run:
            write(self.style.WARNING(f"Dry run (run #{report.run_id}): nothing was written."))
        elif report.changed:
            write(
                self.style.SUCCESS(
                    f"Import #{report.run_id} committed: {sum(counts.values())} changes."
                )
            )
        elif report.simplified:
            write(
                self.style.SUCCESS(
                    f"Import #{report.run_id}: boundaries unchanged; simplified geometry of "
                    f"{report.simplified} boundaries made again (new tolerance or method)."
                )
            )
        else:
            write(
                self.style.SUCCESS(
                    f"Import #{report.run_id}: no changes, everything was up to date."
                )
            )


class Command(ImportCommand):
    """Import posm-extracts GeoJSON."""

    name = "import_geojson"
    help = (
        "Import administrative boundaries from posm-extracts GeoJSON: files "
        "(R<id>admin<N>[_simplified].json, admin_level_<N>[_simplified].json), folders and zips. "
        "All or nothing; prints the diff."
    )

    def run(self, options: dict[str, Any], progress: TerminalProgress | None) -> ImportReport:
        """Import the posm-extracts files given."""
        return import_geojson(options["paths"], **self.import_options(options), progress=progress)

"""``manage.py create_workspace NAME [--country OSM_ID] [--language fr] [--admin USERNAME]``.

Prints the API token last. ``--update --language fr`` changes an existing
workspace's language instead (no token).
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo import audit
from geo.exceptions import GeoError
from geo.workspaces import create_workspace, ensure_admin, set_name_language


class Command(BaseCommand):
    """Create a workspace and print its first API token as the last line (scripts read it)."""

    help = "Create a workspace (a tenant), optionally scoped to one imported country, and print its API token."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the command's options."""
        parser.add_argument("name")
        parser.add_argument("--country", help="osm_id of an imported country, e.g. R171496")
        parser.add_argument(
            "--exist-ok",
            action="store_true",
            help="if the workspace exists, print a new token for it",
        )
        parser.add_argument(
            "--language",
            help="language boundary names are shown in (fr, en, pt-br): the API's display_name"
            " and the map's labels; empty: the source's own names",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="change an existing workspace's --language instead of creating one (no token)",
        )
        parser.add_argument(
            "--admin",
            metavar="USERNAME",
            help="make this person the workspace's admin (for the web map); a new account"
            " takes its password from the MIPAKA_ADMIN_PASSWORD environment variable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create the workspace and print the token."""
        actor = audit.command_line("create_workspace")
        if options["update"]:
            self._update(options)
            return
        try:
            workspace, token = create_workspace(
                name=options["name"],
                country_osm_id=options["country"],
                exist_ok=options["exist_ok"],
                language=options["language"] or "",
                actor=actor,
            )
            if options["admin"]:
                ensure_admin(
                    workspace.pk,
                    username=options["admin"],
                    password=os.environ.get("MIPAKA_ADMIN_PASSWORD", ""),
                    actor=actor,
                )
        except GeoError as exc:
            raise CommandError(exc.message) from exc
        scope = f"country {workspace.country}" if workspace.country else "every imported country"
        self.stdout.write(
            f"Created workspace {workspace.name!r} (#{workspace.pk}), seeing {scope}."
        )
        self.stdout.write("Its API token (shown once; send it as 'Authorization: Token <token>'):")
        self.stdout.write(token)

    def _update(self, options: dict[str, Any]) -> None:
        if options["language"] is None:
            raise CommandError('--update changes --language: give one ("" for none)')
        try:
            workspace = set_name_language(
                options["name"],
                language=options["language"],
                actor=audit.command_line("create_workspace --update"),
            )
        except GeoError as exc:
            raise CommandError(exc.message) from exc
        shown = workspace.name_language or "the source's own names"
        self.stdout.write(f"Workspace {workspace.name!r} now shows names in {shown}.")

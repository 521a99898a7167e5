"""``manage.py create_operator USERNAME``: a staff user; prints an operator API token last."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.exceptions import GeoError
from geo.workspaces import create_operator


class Command(BaseCommand):
    """Make a person an operator and print a new operator token as the last line."""

    help = (
        "Make USERNAME an operator (a staff user; created if new, with the password in"
        " MIPAKA_ADMIN_PASSWORD or none) and print a new operator API token, which runs imports."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the command's options."""
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        """Create or promote the operator and print the token."""
        try:
            operator, token = create_operator(
                username=options["username"],
                password=os.environ.get("MIPAKA_ADMIN_PASSWORD", ""),
            )
        except GeoError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Operator {operator.username!r} (staff) may import boundaries.")
        self.stdout.write(
            "An operator token (shown once; send it as 'Authorization: Token <token>'"
            " to /api/v1/imports):"
        )
        self.stdout.write(token)

from django.apps import AppConfig


class GeoConfig(AppConfig):
    """Boundaries, workspaces, import runs, lookups and maps."""

    name = "geo"
    verbose_name = "Boundaries"

    def ready(self) -> None:
        """Connect the signals that keep every worker's token cache honest."""
        from geo.workspaces import watch_token_changes  # noqa: PLC0415 (models are loaded now)

        watch_token_changes()

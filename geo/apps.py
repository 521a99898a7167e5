from django.apps import AppConfig


class GeoConfig(AppConfig):
    """Boundaries, workspaces, import runs, lookups and maps."""

    name = "geo"
    verbose_name = "Boundaries"

    def ready(self) -> None:
        """Register checks, log context for Celery, and the token-cache invalidation signals."""
        from geo import checks, logs  # noqa: F401, PLC0415 (registering is the import)
        from geo.workspaces import watch_token_changes  # noqa: PLC0415 (models are loaded now)

        logs.connect_celery_signals()
        watch_token_changes()

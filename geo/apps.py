from django.apps import AppConfig


class GeoConfig(AppConfig):
    """Boundaries, workspaces, import runs, lookups and maps."""

    name = "geo"
    verbose_name = "Boundaries"

    def ready(self) -> None:
        """Register the deploy checks; carry log context through Celery tasks."""
        from geo import checks, logs  # noqa: F401, PLC0415 (registering is the import)

        logs.connect_celery_signals()

from django.apps import AppConfig


class GeoConfig(AppConfig):
    """Boundaries, workspaces, import runs, lookups and maps."""

    name = "geo"
    verbose_name = "Boundaries"

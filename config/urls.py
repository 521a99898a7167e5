"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

from geo import health, metrics
from geo.api import rapidpro, tiles

# Resolved in order: the busiest routes (the API, then tiles) are tried first.
urlpatterns = [
    path("api/", include("geo.api.urls")),
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("tiles/<int:z>/<int:x>/<int:y>.mvt", tiles.tile, name="tile"),
    path("api/v2/boundaries.json", rapidpro.boundaries, name="rapidpro-boundaries"),
    path("api/internal/locations.json", rapidpro.locations, name="rapidpro-locations"),
    path("", include("geo.web.urls")),
]

# Unknown URLs under /api/ and /tiles/ answer in the API's JSON error shape.
handler404 = "geo.api.errors.not_found"

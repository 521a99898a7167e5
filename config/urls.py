"""Top-level URL configuration."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from geo import metrics
from geo.api import rapidpro, tiles


def health(request: HttpRequest) -> JsonResponse:
    """Answer a liveness probe without touching the database."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", include("geo.api.urls")),
    path("tiles/<int:z>/<int:x>/<int:y>.mvt", tiles.tile, name="tile"),
    path("api/v2/boundaries.json", rapidpro.boundaries, name="rapidpro-boundaries"),
    path("api/internal/locations.json", rapidpro.locations, name="rapidpro-locations"),
    path("", include("geo.web.urls")),
]

"""The service's URLs plus baselines that exist only to be measured against."""

from typing import Any

from django.contrib.gis.geos import Point
from django.http import HttpRequest
from django.urls import path

from config.urls import urlpatterns as service_urlpatterns
from geo.api import params
from geo.api.errors import api_endpoint
from geo.models import Boundary
from geo.workspaces import WorkspaceAccess


@api_endpoint("GET")
def naive_locate(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """The straightforward GeoDjango locate: an ORM contains query on full geometry per request."""
    lat = params.number(request.GET, "lat", low=-90, high=90)
    lng = params.number(request.GET, "lng", low=-180, high=180)
    rows = (
        Boundary.objects.filter(geometry__contains=Point(lng, lat, srid=4326))
        .order_by("level")
        .values("osm_id", "name", "level", "path", "parent__osm_id")
    )
    return {"results": list(rows)}


urlpatterns = [*service_urlpatterns, path("bench/naive-locate", naive_locate)]

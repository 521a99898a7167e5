from django.urls import path

from geo.api import imports, openapi, views

app_name = "api"

urlpatterns = [
    # The lookups first: patterns are tried in order.
    path("v1/match", views.match, name="match"),
    path("v1/locate", views.locate, name="locate"),
    path("v1/ping", views.ping, name="ping"),
    path("v1/openapi.json", openapi.openapi_document, name="openapi"),
    path("v1/counts", views.counts, name="counts"),
    path("v1/changes", views.changes, name="changes"),
    path("v1/resolve", views.resolve_values, name="resolve"),
    path("v1/countries.geojson", views.countries, name="countries"),
    path("v1/export", views.export, name="export"),
    path("v1/imports", imports.imports, name="imports"),
    path("v1/imports/<int:job_id>", imports.import_detail, name="import"),
    path("v1/imports/<int:job_id>/apply", imports.import_apply, name="import-apply"),
    path("v1/imports/<int:job_id>/changes.geojson", imports.import_changes, name="import-changes"),
    path("v1/boundaries", views.boundary_list, name="boundaries"),
    path("v1/boundaries/<str:osm_id>", views.boundary_detail, name="boundary"),
    path("v1/boundaries/<str:osm_id>/aliases", views.boundary_aliases, name="boundary-aliases"),
    path(
        "v1/boundaries/<str:osm_id>/children.geojson",
        views.boundary_children,
        name="boundary-children",
    ),
]

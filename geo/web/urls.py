from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from geo.web import adminboundary, views

urlpatterns = [
    path("", views.map_page, name="map"),
    path("people/", views.people_page, name="people"),
    path("imports/", views.imports_page, name="imports"),
    path("resolve/", views.resolve_page, name="resolve"),
    path("workspace/", views.switch_workspace, name="switch-workspace"),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # RapidPro's alias-editor endpoints, same URLs and bodies.
    re_path(
        r"^adminboundary/geometry/(?P<osm_id>[\w.]+)/$",
        adminboundary.geometry,
        name="adminboundary-geometry",
    ),
    re_path(
        r"^adminboundary/boundaries/(?P<osm_id>[\w.]+)/$",
        adminboundary.boundaries,
        name="adminboundary-boundaries",
    ),
]

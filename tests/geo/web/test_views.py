"""The web pages without a browser: sign-in, the map page's states, people and tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from geo.exceptions import Unauthorized
from geo.importing import import_geojson
from geo.models import ApiToken, Membership, Role, Workspace
from geo.workspaces import create_workspace, find_workspace_by_token
from tests.builders import coded_country
from tests.geo.web.conftest import PASSWORD, SampleSite, signed_in

pytestmark = pytest.mark.django_db


def test_the_map_asks_to_sign_in_first(site: SampleSite) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_sign_in_leads_to_the_map_of_the_workspaces_country(site: SampleSite) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "viewer", "password": PASSWORD}, follow=True
    )
    html = response.content.decode()
    assert 'data-root="R900000"' in html
    assert 'data-can-edit="false"' in html
    assert "/static/geo/vendor/leaflet/leaflet.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()


def test_wrong_password_is_refused_with_a_message(site: SampleSite) -> None:
    response = Client().post("/accounts/login/", {"username": "viewer", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_the_map_says_when_no_country_is_imported(db: None) -> None:
    from django.contrib.auth.models import User

    workspace, _ = create_workspace(name="empty")
    user = User.objects.create_user(username="first", password="x")
    Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
    html = signed_in(user).get("/").content.decode()
    assert "No country imported yet" in html
    assert "manage.py import_geojson" in html
    assert 'id="map"' not in html


def test_editors_get_an_editable_alias_box(site: SampleSite) -> None:
    html = signed_in(site.editor).get("/").content.decode()
    assert 'data-can-edit="true"' in html
    assert 'id="save-aliases"' in html


def test_leaflet_is_served_from_our_static_files(site: SampleSite) -> None:
    response = Client().get("/static/geo/vendor/leaflet/leaflet.js")
    assert response.status_code == 200
    assert b"Leaflet" in b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_admins_add_people_change_roles_and_remove_them(site: SampleSite) -> None:
    client = signed_in(site.admin)
    client.post(
        "/people/", {"action": "add", "username": "newbie", "password": "pw", "role": "editor"}
    )
    newbie = Membership.objects.get(workspace=site.workspace, user__username="newbie")
    assert newbie.role == Role.EDITOR
    assert Client().login(username="newbie", password="pw")
    client.post("/people/", {"action": "role", "user": newbie.user_id, "role": "viewer"})
    newbie.refresh_from_db()
    assert newbie.role == Role.VIEWER
    client.post("/people/", {"action": "remove", "user": newbie.user_id})
    assert not Membership.objects.filter(pk=newbie.pk).exists()


def test_the_last_admin_cannot_step_down(site: SampleSite) -> None:
    response = signed_in(site.admin).post(
        "/people/", {"action": "role", "user": site.admin.pk, "role": "viewer"}, follow=True
    )
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(user=site.admin).role == Role.ADMIN


def test_admins_issue_and_revoke_tokens(site: SampleSite) -> None:
    client = signed_in(site.admin)
    html = client.post("/people/", {"action": "issue", "name": "rapidpro"}).content.decode()
    token = html.split('<code id="new-token">')[1].split("</code>")[0]
    assert find_workspace_by_token(token) is not None
    issued = ApiToken.objects.get(workspace=site.workspace, name="rapidpro")
    client.post("/people/", {"action": "revoke", "token": issued.pk})
    issued.refresh_from_db()
    assert issued.revoked_at is not None
    with pytest.raises(Unauthorized, match="token revoked on"):
        find_workspace_by_token(token)
    assert "revoked " in client.get("/people/").content.decode()


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_admins_manage_people_and_tokens(site: SampleSite, role: str) -> None:
    user = site.editor if role == "editor" else site.viewer
    response = signed_in(user).post(
        "/people/",
        {"action": "add", "username": "sneaky", "password": "pw", "role": "admin"},
        follow=True,
    )
    assert "needs the admin role" in response.content.decode()
    assert not Membership.objects.filter(user__username="sneaky").exists()
    signed_in(user).post("/people/", {"action": "issue", "name": "x"})
    assert not ApiToken.objects.filter(name="x").exists()


def test_the_django_admin_lists_workspaces_for_operators(site: SampleSite) -> None:
    from django.contrib.auth.models import User

    operator = User.objects.create_superuser(username="op", password="x")
    client = signed_in(operator)
    assert client.get("/admin/geo/workspace/").status_code == 200
    page = client.get(f"/admin/geo/workspace/{site.workspace.pk}/change/").content.decode()
    assert "viewer" in page and "editor" in page
    assert client.get("/admin/geo/boundary/?q=Riverside").status_code == 200


def test_the_base_map_is_offered_but_off(site: SampleSite, settings: object) -> None:
    """With a base map URL the page offers an unticked box; without one, none."""
    settings.MIPAKA_BASEMAP_URL = "https://tiles.example/{z}/{x}/{y}.png"  # type: ignore[attr-defined]
    html = signed_in(site.viewer).get("/").content.decode()
    assert '<input type="checkbox" id="basemap">' in html
    assert 'data-basemap-url="https://tiles.example/{z}/{x}/{y}.png"' in html
    settings.MIPAKA_BASEMAP_URL = ""  # type: ignore[attr-defined]
    assert 'id="basemap"' not in signed_in(site.viewer).get("/").content.decode()


def test_admins_choose_the_language_names_are_shown_in(db: None, tmp_path: Path) -> None:
    """The people page sets the workspace's language; the map's root and the API follow it."""
    import_geojson([coded_country(tmp_path)])
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    admin = User.objects.create_user(username="boss", password=PASSWORD)
    viewer = User.objects.create_user(username="looker", password=PASSWORD)
    Membership.objects.create(user=admin, workspace=workspace, role=Role.ADMIN)
    Membership.objects.create(user=viewer, workspace=workspace, role=Role.VIEWER)
    client = signed_in(admin)
    assert 'data-root-name="Tinyland"' in client.get("/").content.decode()
    client.post("/people/", {"action": "language", "language": "FR"})
    assert Workspace.objects.get(pk=workspace.pk).name_language == "fr"
    assert 'data-root-name="Petitpays"' in client.get("/").content.decode()
    page = client.get("/people/").content.decode()
    assert "Boundary names are shown\n    in <strong>fr</strong>" in page
    answer = client.get("/api/v1/match?text=West&level=1").json()
    assert answer["results"][0]["display_name"] == "Ouest"
    refused = client.post("/people/", {"action": "language", "language": "<b>"}, follow=True)
    assert "is not a language code" in refused.content.decode()
    signed_in(viewer).post("/people/", {"action": "language", "language": ""})
    assert Workspace.objects.get(pk=workspace.pk).name_language == "fr"  # viewers cannot

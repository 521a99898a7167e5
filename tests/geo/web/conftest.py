from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.test import Client

from geo.importing import import_geojson
from geo.models import Membership, Role, Workspace
from geo.workspaces import create_workspace
from tests.conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample"
PASSWORD = "correct horse battery"


@dataclass
class SampleSite:
    """The sample country imported, a workspace on it, and one person per role."""

    workspace: Workspace
    token: str
    admin: User
    editor: User
    viewer: User


def make_sample_site() -> SampleSite:
    import_geojson([SAMPLE])
    workspace, token = create_workspace(name="demo", country_osm_id="R900000")
    people = {}
    for role in Role:
        user = User.objects.create_user(username=str(role), password=PASSWORD)
        Membership.objects.create(user=user, workspace=workspace, role=role)
        people[str(role)] = user
    return SampleSite(workspace, token, people["admin"], people["editor"], people["viewer"])


def signed_in(user: User, *, csrf: bool = False) -> Client:
    """A test client signed in as ``user``; ``csrf`` makes it enforce CSRF like a browser."""
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, sync_playwright

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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless and quiet: without the networking flags Chromium keeps calling home,
# which a closed network refuses many times a second.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls are still synchronous, so Django's async guard is lifted here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def sample_site(transactional_db: None) -> SampleSite:
    return make_sample_site()

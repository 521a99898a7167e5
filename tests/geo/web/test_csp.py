"""The Content-Security-Policy of our pages: strict, and the pages still work under it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, expect

from geo.models import Membership, Role
from geo.web.csp import build_policy
from tests.geo.web.conftest import PASSWORD, SampleSite, make_sample_site, signed_in

# Inline code the policy would block: event-handler attributes, script bodies, style attributes.
INLINE = re.compile(r"\son[a-z]+\s*=|<script(?![^>]*\ssrc=)[^>]*>|\sstyle\s*=", re.IGNORECASE)


@pytest.mark.django_db
def test_pages_carry_a_strict_policy_and_no_inline_code(site: SampleSite) -> None:
    client = signed_in(site.admin)
    for path in ("/", "/people/"):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy
        assert "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert not INLINE.findall(response.content.decode()), path
    login = Client().get("/accounts/login/")
    assert "Content-Security-Policy" in login
    assert not INLINE.findall(login.content.decode())


def test_the_base_map_host_is_the_one_other_image_source() -> None:
    assert "img-src 'self' data:;" in build_policy(basemap_url="")
    policy = build_policy(basemap_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https://*.tile.example.org;" in policy
    assert "connect-src 'self';" in policy


@pytest.mark.django_db
def test_the_map_page_allows_its_tile_host(site: SampleSite, settings: Any) -> None:
    settings.MIPAKA_BASEMAP_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    policy = signed_in(site.editor).get("/")["Content-Security-Policy"]
    assert "https://tile.openstreetmap.org" in policy


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_map_and_people_pages_work_under_the_policy(browser: Browser, live_server: Any) -> None:
    """Sign in, drill down, draw counts, change a role by its select: no CSP violation."""
    site = make_sample_site()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("path[data-osm-id]")).to_have_count(4)
    page.locator('path[data-osm-id="R9003"]').click()
    expect(page.locator("#breadcrumb")).to_contain_text("Hautes-Terres")
    page.fill("#counts-text", "osm_id,value\nR90031,5\n")
    page.click("#show-counts")
    expect(page.locator("#legend")).not_to_be_empty()
    violations = page.evaluate("window.__violations")

    page.goto(f"{live_server.url}/people/")
    page.select_option(f'select[aria-label="Role of {site.viewer.username}"]', "editor")
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("role changed")
    violations += page.evaluate("window.__violations")
    assert Membership.objects.get(user=site.viewer).role == Role.EDITOR
    assert violations == []
    assert not [line for line in console if "Content Security Policy" in line]

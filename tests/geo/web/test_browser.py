"""The map page in a real browser: Debian's Chromium driven by Playwright, on a live server.

The suite starts Chromium itself (headless, no network beyond localhost) and
saves screenshots of the map in ``test-artifacts/`` (or ``$MIPAKA_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from geo.models import BoundaryAlias
from tests.conftest import ROOT
from tests.geo.web.conftest import PASSWORD, SampleSite

ARTIFACTS = Path(os.environ.get("MIPAKA_TEST_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = pytest.mark.django_db(transaction=True)


def open_map(browser: Browser, live_server: Any, username: str, **context: Any) -> Page:
    page = browser.new_context(**context).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("path[data-osm-id]")).to_have_count(4)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shape(page: Page, osm_id: str) -> Any:
    return page.locator(f'path[data-osm-id="{osm_id}"]')


def test_drill_down_search_alias_and_counts(
    browser: Browser, live_server: Any, sample_site: SampleSite, tmp_path: Path
) -> None:
    page = open_map(browser, live_server, "editor", viewport={"width": 1280, "height": 800})
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland")

    # Hover names a state; a click drills down to its districts, then its wards.
    shape(page, "R9003").hover()
    expect(page.locator(".boundary-tooltip")).to_contain_text("Hautes-Terres")
    shape(page, "R9003").click()
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland › Hautes-Terres")
    expect(page.locator("path[data-osm-id]")).to_have_count(3)
    shape(page, "R90032").click()
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland › Hautes-Terres › Kôro")
    expect(page.locator("path[data-osm-id]")).to_have_count(4)
    # The breadcrumb leads back up, also in the middle of a zoom animation
    # (Leaflet ignores a zoom asked for while one runs): every state is drawn.
    # The states' shapes arrive while a zoom (a click on "+") is being animated,
    # whatever the machine's timing: the page's fetch is wrapped to make it so.
    page.evaluate(
        """() => {
            const realFetch = window.fetch;
            window.fetch = async (...args) => {
                const response = await realFetch(...args);
                if (String(args[0]).includes("children.geojson")) {
                    window.fetch = realFetch;
                    document.querySelector(".leaflet-control-zoom-in").click();
                    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
                }
                return response;
            };
            document.querySelector("#breadcrumb a").click();
        }"""
    )
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland")
    expect(page.locator("path[data-osm-id]")).to_have_count(4)
    for state in ("R9001", "R9002", "R9003", "R9004"):
        expect(shape(page, state)).to_be_visible()
        expect(shape(page, state)).not_to_have_attribute("d", "M0 0")

    # Search uses the API's matching (accents and case folded) and flies there.
    page.fill("#search", "koro ville")
    page.locator("#search-results button", has_text="Kôro-Ville").click()
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland › Hautes-Terres › Kôro")
    expect(page.locator("#selected-name")).to_have_text("Kôro-Ville")

    # Edit an alias; the next search finds the ward by it.
    page.fill("#aliases", "Town Centre\nKV")
    page.click("#save-aliases")
    expect(page.locator("#alias-status")).to_have_text("Saved 2 aliases.")
    assert sorted(BoundaryAlias.objects.filter(boundary__osm_id="R900321").values_list("name", flat=True)) == [
        "KV", "Town Centre",
    ]  # fmt: skip
    page.fill("#search", "town centre")
    expect(page.locator("#search-results button").first).to_contain_text("Kôro-Ville")

    # Upload counts: a choropleth with a legend, unmatched rows listed.
    table = tmp_path / "counts.csv"
    table.write_text("name,value\nKôro-Ville,40\nSokodé,10\nKôro-Est,5\nPlateau,8\nAtlantis,3\n")
    page.set_input_files("#counts-file", str(table))
    page.click("#show-counts")
    expect(page.locator("#counts-status")).to_contain_text("4 rows matched, 1 not matched")
    expect(page.locator("#unmatched")).to_contain_text("line 6: no boundary named 'Atlantis'")
    expect(page.locator("#legend .legend-row")).to_have_count(4)  # 10, 5, 40 on screen + no data
    expect(page.locator("#legend")).to_contain_text("40")
    fill = shape(page, "R900321").get_attribute("fill")
    assert fill not in {None, "#2387ca", "#d9d9d9"}
    assert shape(page, "W900324").get_attribute("fill") == "#d9d9d9"  # Kôro-Ouest: no data
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "map-counts-desktop.png"
    page.screenshot(path=str(screenshot))
    # Up one level, the legend follows that level's totals (Kôro 55, Plateau 8).
    page.get_by_role("link", name="Hautes-Terres").click()
    expect(page.locator("#legend")).to_contain_text("55")
    assert screenshot.stat().st_size > 10_000
    assert page.errors == []  # type: ignore[attr-defined]


def test_phone_width_stacks_the_panel_under_the_map(
    browser: Browser, live_server: Any, sample_site: SampleSite
) -> None:
    page = open_map(
        browser, live_server, "viewer", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    map_box = page.locator("#map").bounding_box()
    side_box = page.locator("aside.side").bounding_box()
    assert map_box and side_box
    assert map_box["width"] <= 390 and side_box["y"] >= map_box["y"] + map_box["height"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    # A viewer sees aliases but cannot change them.
    shape(page, "R9004").click()
    expect(page.locator("#breadcrumb")).to_have_text("Mipakaland › Kusini")
    expect(page.locator("#selected-name")).to_have_text("Kusini")
    expect(page.locator("#aliases")).to_have_attribute("readonly", "")
    expect(page.locator("#save-aliases")).to_have_count(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-phone.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]

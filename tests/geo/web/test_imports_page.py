"""The operators' imports page in a real browser, with a real Celery worker doing the imports."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from geo.models import Boundary, ImportJob, JobStatus
from geo.workspaces import create_operator
from tests.geo.web.conftest import PASSWORD, SampleSite
from tests.jobs import SAMPLE, Worker

pytestmark = pytest.mark.django_db(transaction=True)

JOB_MS = 120_000


def changed_sample(folder: Path) -> Path:
    """The sample country as a newer release: its coarser shapes, and one state renamed."""
    archive = folder / "sample-v2.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for level in range(4):
            source = SAMPLE / f"admin_level_{level}_simplified.json"
            if not source.exists():
                source = SAMPLE / f"admin_level_{level}.json"
            data = json.loads(source.read_text())
            for feature in data["features"]:
                if feature["properties"]["osm_id"] == "R9001":
                    feature["properties"]["name"] = "Côte-Bleue"
            out.writestr(f"admin_level_{level}.json", json.dumps(data))
    return archive


def sign_in(browser: Browser, live_server: Any, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/?next=/imports/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_dry_run_diff_on_a_map_then_apply(
    browser: Browser,
    live_server: Any,
    sample_site: SampleSite,
    workers: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    """Upload as a dry run: the diff table and before/after shapes, nothing written; apply writes."""
    workers("page")
    create_operator(username="ops", password=PASSWORD)
    page = sign_in(browser, live_server, "ops")
    expect(page.locator("h1")).to_have_text("Imports")

    page.set_input_files("#upload-file", str(changed_sample(tmp_path)))
    expect(page.locator("#upload-dry-run")).to_be_checked()
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#submit-status")).to_contain_text("queued")
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=JOB_MS)
    expect(page.locator("#job-title")).to_contain_text("dry run of sample-v2.zip")

    # The table names each change; the renamed state is among them.
    state = page.locator('#diff tbody tr[data-osm-id="R9001"]')
    expect(state.filter(has_text="renamed")).to_contain_text("Côte-Verte")
    expect(state.filter(has_text="geometry changed")).to_have_count(1)
    assert page.locator("#diff tbody tr").count() > 5
    # Reshaped boundaries on the map: as stored (before) and as the files have them (after).
    expect(page.locator('#changes-map path[data-side="after"]').first).to_be_visible()
    expect(page.locator('#changes-map path[data-side="before"]').first).to_be_visible()
    assert page.locator('#changes-map path[d="M0 0"]').count() == 0
    page.screenshot(path=str(tmp_path / "imports.png"))
    # A dry run writes no boundary.
    assert Boundary.objects.get(osm_id="R9001").name == "Côte-Verte"

    page.click("#apply-job")
    expect(page.locator("#job-title")).to_contain_text("import of", timeout=10_000)
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=JOB_MS)
    expect(page.locator("#job-summary")).to_contain_text("Changed:")
    assert Boundary.objects.get(osm_id="R9001").name == "Côte-Bleue"
    # Past runs: the dry run and its application, newest first.
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    expect(page.locator("#jobs tbody tr").first).to_contain_text("import")
    jobs = list(ImportJob.objects.order_by("id").values_list("dry_run", "status", "applies_id"))
    first_id = ImportJob.objects.order_by("id").first().pk  # type: ignore[union-attr]
    assert jobs == [(True, JobStatus.SUCCEEDED, None), (False, JobStatus.SUCCEEDED, first_id)]
    assert page.errors == []  # type: ignore[attr-defined]


def test_people_who_are_not_operators_are_turned_away(
    browser: Browser,
    live_server: Any,
    sample_site: SampleSite,
) -> None:
    """A workspace admin (not staff) sees why the page is not for them, and no form."""
    page = sign_in(browser, live_server, "admin")
    expect(page.locator("#forbidden")).to_contain_text("only operators")
    expect(page.locator("#upload-form")).to_have_count(0)

"""The resolve page: upload a CSV of stored locations, download it resolved to today's."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import Browser, expect

from geo.lookup.tables import MAX_TABLE_BYTES
from geo.models import Membership, Role
from geo.workspaces import create_workspace
from tests.geo.web.conftest import PASSWORD, signed_in
from tests.history import build_history_world

ROWS = [
    ("contact", "location"),
    ("ann", "Tinyland > West > Alpha"),
    ("bob", "Tinyland > Westland > Oldalpha"),
    ("cy", "Omega"),
    ("dee", "R150"),
    ("eve", "Nowhere"),
]


def make_viewer(folder: Path) -> User:
    """Tinyland with its history, a workspace on it and a viewer in that workspace."""
    build_history_world(folder)
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    user = User.objects.create_user(username="viewer", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.VIEWER)
    return user


@pytest.fixture
def viewer(db: None, tmp_path: Path) -> Client:
    return signed_in(make_viewer(tmp_path))


def csv_bytes(rows: Sequence[tuple[str, ...]], *, delimiter: str = ",", bom: bool = False) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")


def upload(client: Client, data: bytes, column: str = "location", **fields: str) -> Any:
    file = SimpleUploadedFile("contacts.csv", data, content_type="text/csv")
    return client.post("/resolve/", {"file": file, "column": column, **fields})


EXPECTED = [
    ["contact", "location", "location_status", "location_today", "location_osm_id"],
    ["ann", "Tinyland > West > Alpha", "current", "Tinyland > West > Alpha", "R111"],
    ["bob", "Tinyland > Westland > Oldalpha", "renamed", "Tinyland > West > Alpha", "R111"],
    ["cy", "Omega", "split", "Tinyland > East > Gamma | Tinyland > East > Delta", "R121 | R122"],
    ["dee", "R150", "retired", "", ""],
    ["eve", "Nowhere", "unknown", "", ""],
]


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", False), (",", True), (";", False), ("\t", True)]
)
def test_download_adds_three_columns_beside_the_chosen_one(
    viewer: Client, delimiter: str, bom: bool
) -> None:
    """Comma, semicolon or tab, with or without a BOM: the same delimiter and BOM come back."""
    response = upload(viewer, csv_bytes(ROWS, delimiter=delimiter, bom=bom))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="contacts-resolved.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff") == bom
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))
    assert rows == EXPECTED


def test_the_column_may_be_in_the_middle_and_rows_short(viewer: Client) -> None:
    """The added columns sit right after the chosen one; a short row is padded."""
    data = csv_bytes([("place", "n"), ("Sigma", "3"), ("Kappa",)])
    rows = list(csv.reader(io.StringIO(upload(viewer, data, "PLACE").content.decode())))
    assert rows == [
        ["place", "place_status", "place_today", "place_osm_id", "n"],
        ["Sigma", "merged", "Tinyland > East > Delta", "R122", "3"],
        ["Kappa", "split", "Tinyland > West > Alpha | Tinyland > West > Beta", "R111 | R112", ""],
    ]


def test_level_limits_the_reading(viewer: Client) -> None:
    """With a level, a value of another level is unknown."""
    data = csv_bytes([("location",), ("Alpha",), ("West",)])
    rows = list(csv.reader(io.StringIO(upload(viewer, data, level="1").content.decode())))
    assert [row[1] for row in rows[1:]] == ["unknown", "current"]


@pytest.mark.parametrize(
    ("data", "column", "message"),
    [
        (
            b"location\n\xff\xfeabc\n",
            "location",
            "contacts.csv: not UTF-8 text (byte 0xFF on line 2)",
        ),
        (b"", "location", "contacts.csv: empty"),
        (b"contact,location\nann,Alpha\n", "place", "column: no column &#x27;place&#x27;"),
        (b"contact,location\nann,Alpha\n", "", "column: pick the column"),
        (b"a" * (MAX_TABLE_BYTES + 1), "a", f"larger than the limit of {MAX_TABLE_BYTES:,} bytes"),
    ],
)
def test_bad_files_say_what_is_wrong(
    viewer: Client, data: bytes, column: str, message: str
) -> None:
    """Not UTF-8, empty, an unknown column, no column, too large: the page says so (400)."""
    response = upload(viewer, data, column)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'id="resolve-error"' in response.content.decode()


def test_the_page_needs_a_workspace_member(db: None, tmp_path: Path) -> None:
    """Anonymous visitors sign in first; the page and its nav link show for members."""
    assert Client().get("/resolve/").status_code == 302
    page = signed_in(make_viewer(tmp_path)).get("/resolve/")
    assert page.status_code == 200
    assert 'href="/resolve/"' in page.content.decode()
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "<script>" not in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_in_a_browser(browser: Browser, live_server: Any, tmp_path: Path) -> None:
    """Pick a file, the column list fills from its header, the download comes back resolved."""
    make_viewer(tmp_path / "world")
    page = browser.new_context(accept_downloads=True).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/resolve/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Resolve stored locations")
    source = tmp_path / "contacts.csv"
    source.write_bytes(csv_bytes(ROWS, delimiter=";", bom=True))
    page.set_input_files("#resolve-file", str(source))
    expect(page.locator("#resolve-column option")).to_have_count(2)
    expect(page.locator("#resolve-column")).to_have_value("location")
    with page.expect_download() as download:
        page.click("#resolve-submit")
    assert download.value.suggested_filename == "contacts-resolved.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert list(csv.reader(io.StringIO(text), delimiter=";")) == EXPECTED
    assert errors == []

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from geo import workspaces
from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.lookup import snapshot
from geo.lookup.matching import Scope, match_text
from geo.lookup.snapshot import lookup_data
from geo.workspaces import create_workspace
from tests.builders import collection, feature, tiny_country, wiggly_square, write
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_gone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's connection points at a port where no PostgreSQL listens."""
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    yield
    monkeypatch.undo()
    connection.close()


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    import_geojson([tiny_country(tmp_path / "tiny")])
    _, token = create_workspace(name="geo")
    # Every call goes back to the database: the version check and the token check.
    monkeypatch.setattr(snapshot, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(workspaces, "TOKEN_CACHE_SECONDS", 0.0)
    return ApiClient(token)


def answers(api: ApiClient) -> tuple[list[str], list[str]]:
    located = api.get("/api/v1/locate", lat=0.5, lng=1.5)
    matched = api.get("/api/v1/match", text="gamma", level=2)
    assert located.status_code == matched.status_code == 200, (located.content, matched.content)
    return (
        [r["path"] for r in located.json()["results"]],
        [r["path"] for r in matched.json()["results"]],
    )


def test_lookups_answer_from_memory_while_the_database_is_gone(api: ApiClient) -> None:
    """Once loaded, match and locate answer as before without the database; /ready stays 200."""
    before = answers(api)
    assert before == (
        ["Tinyland", "Tinyland > East", "Tinyland > East > Gamma"],
        ["Tinyland > East > Gamma"],
    )
    version = lookup_data.hierarchy().version
    with pytest.MonkeyPatch.context() as patch:
        connection.close()
        patch.setitem(connection.settings_dict, "PORT", "1")  # nothing listens there
        try:
            assert answers(api) == before
            assert answers(api) == before  # the failed check is logged once, not fatal
            ready = Client().get("/ready")
            assert ready.status_code == 200
            assert ready.json()["database"] == "unreachable"
            assert ready.json()["index_version"] == version
            unknown = ApiClient("never-seen").get("/api/v1/match", text="gamma", level=2)
            assert unknown.status_code == 503
            assert unknown.json()["error"]["code"] == "unavailable"
        finally:
            connection.close()
    assert answers(api) == before
    assert Client().get("/ready").json()["database"] == "reachable"


def test_nothing_loaded_and_no_database_is_503(database_gone: None) -> None:
    """Without a loaded index or a database, lookups say 503, not 500; /health is still 200."""
    assert Client().get("/health").status_code == 200
    response = Client().get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "loading"


def test_a_worker_keeps_its_snapshot_out_of_the_cyclic_collector(tmp_path: Path) -> None:
    """A full collection in a worker does not walk the snapshot it answers from."""
    import_geojson([tiny_country(tmp_path / "tiny")])
    data = snapshot.LookupData()
    frozen = gc.get_freeze_count()
    try:
        data.start_background_refresh(interval=3600)
        places = data.hierarchy().places
        assert gc.get_freeze_count() > frozen
        # gc.get_objects() lists what collections walk: frozen objects are not among them.
        assert not any(tracked is places for tracked in gc.get_objects())
    finally:
        data.stop_background_refresh()
        gc.unfreeze()


def test_an_alias_index_is_built_on_the_snapshot_the_caller_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import swapped in between reading the hierarchy and the aliases cannot hand the
    caller an index of places its hierarchy does not have (a match would fail on them)."""
    monkeypatch.setattr(snapshot, "REFRESH_SECONDS", 0.0)
    import_geojson([tiny_country(tmp_path / "tiny")])
    workspace, token = create_workspace(name="geo")
    held = lookup_data.hierarchy()
    write(
        tmp_path / "other",
        "R2admin0.json",
        collection(
            feature("R2", "Otherland", name_en="Otherland", coordinates=wiggly_square(9, 9))
        ),
    )
    write(
        tmp_path / "other",
        "R2admin1.json",
        collection(feature("R21", "North", coordinates=wiggly_square(9, 9), country="R2")),
    )
    import_geojson([tmp_path / "other"])
    set_aliases(workspace=workspace, osm_id="R21", aliases=["Northshire"])
    access = workspaces.find_access_by_token(token)
    assert isinstance(access, workspaces.WorkspaceAccess)
    assert "R21" in lookup_data.hierarchy().by_osm_id  # the new import is served now
    aliases = lookup_data.aliases(access, held)
    named = {
        pid for keys in aliases.keys.values() for entries in keys.values() for pid, _ in entries
    }
    assert named <= set(held.places)
    result = match_text(held, "northshire", scope=Scope(level=1), aliases=aliases)
    assert result.matches == []
    current = lookup_data.aliases(access)
    assert [m.place.osm_id for m in match_text(
        lookup_data.hierarchy(), "northshire", scope=Scope(level=1), aliases=current
    ).matches] == ["R21"]  # fmt: skip

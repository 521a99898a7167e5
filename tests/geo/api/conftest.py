from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from geo.aliases import refuse_common_alias, set_aliases
from geo.exceptions import InvalidQuery
from geo.importing import import_geojson
from geo.models import Workspace
from geo.workspaces import create_workspace
from tests.builders import collection, feature, write
from tests.conftest import ROOT

REFERENCE = ROOT.parent / "shared" / "reference"


class ApiClient:
    """A test client that sends a workspace token."""

    def __init__(self, token: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Token {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def put(self, path: str, body: object) -> Any:
        return self.client.put(
            path, json.dumps(body), content_type="application/json", headers=self.headers
        )

    def post(self, path: str, body: object | str) -> Any:
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", headers=self.headers)


def goflow_hierarchy_files(folder: Path) -> Path:
    """Write goflow's test hierarchy as posm files (levels 0 to 3, no geometry)."""
    rows = json.loads((REFERENCE / "goflow-cases.json").read_text())["hierarchy"]
    for level in range(4):
        features = [
            feature(
                r["osm_id"],
                r["name"],
                name_en=r["name"] if level == 0 else "None",
                country="R1",
                parent_id=r["parent"] or "None",
            )
            for r in rows
            if r["level"] == level
        ]
        write(folder, f"R1admin{level}.json", collection(*features))
    return folder


def usable(aliases: list[str]) -> list[str]:
    """goflow's aliases less those Mipaka refuses: Québec's "Que" is a common word
    (French, Spanish, Portuguese "that") which would match nearly every message."""
    kept = []
    for alias in aliases:
        try:
            refuse_common_alias(alias, field="alias")
        except InvalidQuery:
            continue
        kept.append(alias)
    return kept


@pytest.fixture
def goflow_world(tmp_path: Path) -> tuple[Workspace, str]:
    """goflow's hierarchy imported, and a workspace on it with goflow's aliases."""
    import_geojson([goflow_hierarchy_files(tmp_path)])
    workspace, token = create_workspace(name="flows", country_osm_id="R1")
    rows = json.loads((REFERENCE / "goflow-cases.json").read_text())["hierarchy"]
    for row in rows:
        if row["aliases"]:
            set_aliases(workspace=workspace, osm_id=row["osm_id"], aliases=usable(row["aliases"]))
    return workspace, token


@pytest.fixture
def api(goflow_world: tuple[Workspace, str]) -> ApiClient:
    return ApiClient(goflow_world[1])

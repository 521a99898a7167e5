"""pytest wiring: real PostGIS through pytest-django, and the data folders tests read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Fixtures shared across folders: real Celery workers and their broker (tests/jobs.py).
pytest_plugins = ["tests.jobs"]

ROOT = Path(__file__).resolve().parent.parent
POSM_EXTRACTS = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)


@pytest.fixture
def posm_extracts() -> Path:
    """The shared posm-extracts folder; tests that read it fail loudly if it is gone."""
    assert POSM_EXTRACTS.is_dir(), (
        f"posm-extracts data not found at {POSM_EXTRACTS} (set POSM_EXTRACTS_DIR)"
    )
    return POSM_EXTRACTS


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a ``manage.py`` child process that uses the test database."""
    from django.db import connection

    settings = connection.settings_dict
    url = f"postgis://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    return dict(os.environ, DATABASE_URL=url, **extra)

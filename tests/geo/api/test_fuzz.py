"""schemathesis, every check, against the app in-process: a short, fixed-seed run.

The longer run is ``scripts/fuzz_api.py`` (gunicorn, minutes). Here each
operation gets a few dozen derandomized examples of valid and of invalid
input through the WSGI app, on the sample country, with a workspace token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from geo.importing import import_geojson
from geo.workspaces import create_workspace
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

SAMPLE = ROOT / "fixtures" / "sample"
EXAMPLES_PER_MODE = 15


@pytest.fixture
def token(settings: object) -> Iterator[str]:
    """A workspace token on the sample country; the WSGI app runs in the test's transaction."""
    import_geojson([SAMPLE])
    _, token = create_workspace(name="fuzz", country_osm_id="R900000")
    # schemathesis sends unknown tokens on purpose (ignored_auth): no lockout here.
    settings.MIPAKA_BAD_TOKEN_LIMIT = (100_000, 60)  # type: ignore[attr-defined]
    # As Django's test client does: a request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield token
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_contract(token: str, mode: GenerationMode) -> None:
    """No 500; every answer documented (status, content type, body schema, headers);
    schema-valid input accepted and invalid input refused; auth never ignored.

    Every operation of the served document is run (a new endpoint is fuzzed as
    soon as it is documented, and test_openapi checks that it is); failures are
    gathered per operation and reported together.
    """
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json",
        WSGIHandler(),
        config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml"),
    )
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (
            operation.body or operation.query or operation.path_parameters
        ):
            continue  # nothing to get wrong
        tested += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_MODE,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Token {token}"})

        try:
            check()
        except Exception as exc:  # every operation's failure is reported, not only the first
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert tested >= 13  # 14 operations; ping has no input to get wrong
    assert not failures, "\n\n".join(f"{op}: {message}" for op, message in failures.items())

"""Every text a request carries is checked in one place: control characters are a 400."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from geo.api import params
from geo.exceptions import InvalidQuery
from tests.geo.api.conftest import ApiClient
from tests.geo.web.conftest import SampleSite

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["a\x00b", "\x01", "x\x1f", "\x7f", "\x9b", "\ud83d"])
def test_control_characters_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidQuery, match=r"^parent: control character U\+[0-9A-F]{4} at"):
        params.text({"parent": value}, "parent")


def test_tabs_and_line_breaks_are_text() -> None:
    """An SMS may hold line breaks."""
    assert params.text({"text": "I live\nin\tKigali\r\n"}, "text") == "I live\nin\tKigali"


@pytest.mark.parametrize(
    ("path", "query", "fragment"),
    [
        ("/api/v1/boundaries", {"parent": "R9\x00"}, "parent: control character U+0000"),
        ("/api/v1/boundaries", {"q": "Kô\x00"}, "q: control character"),
        ("/api/v1/boundaries", {"page_size": "501"}, "page_size: must be from 1 to 500"),
        ("/api/v1/boundaries", {"page_size": "0"}, "page_size: must be from 1 to 500"),
        ("/api/v1/boundaries", {"level": "4"}, "level: must be from 0 to 3"),
        ("/api/v1/boundaries", {"level": "-1"}, "level: must be from 0 to 3"),
        ("/api/v1/boundaries", {"level": "1_0"}, "level: must be a whole number"),
        ("/api/v1/boundaries", {"level": ""}, "level: must be a whole number"),
        ("/api/v1/match", {"text": "x\x00", "level": "1"}, "text: control character"),
        ("/api/v1/match", {"text": "   ", "level": "1"}, "text: required"),
        ("/api/v1/locate", {"lat": "1_0", "lng": "0"}, "lat: must be a number"),
        ("/api/v1/boundaries/R9\x00", {}, "osm_id: control character"),
        ("/api/internal/locations.json", {"query": "\x00"}, "query: control character"),
        ("/api/v2/boundaries.json", {"cursor": "@@@"}, "cursor: not a cursor"),
    ],
)
def test_bad_parameters_are_400_never_500(
    site: SampleSite, path: str, query: dict[str, Any], fragment: str
) -> None:
    response = ApiClient(site.token).get(path, **query)
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]["message"]


def test_bodies_over_the_limit_are_413(site: SampleSite, settings: Any) -> None:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before it is read."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api = ApiClient(site.token)
    response = api.post("/api/v1/counts", {"rows": [{"osm_id": "R9001", "value": 1}] * 100})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_json_fields_are_refused(site: SampleSite) -> None:
    response = ApiClient(site.token).post("/api/v1/locate", {"points": [], "pionts": []})
    assert response.status_code == 400
    assert "body: unknown field 'pionts'" in response.json()["error"]["message"]


def test_unknown_api_urls_answer_json(site: SampleSite) -> None:
    response = ApiClient(site.token).get("/tiles/-1/0/0.mvt")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "query_string",
    [
        "lat=1.5&lng=2",
        "lat=1&lat=2",  # repeated: the last value, as request.GET[...] gives
        "text=I+live+in+gasabo&level=2",
        "text=Qu%C3%A9bec&empty=&flag",
        "text=%E2%82%AC%FF%zz",  # an undecodable byte and a broken escape: replaced
        "text=Qu\u00c3\u00a9bec",  # raw UTF-8 bytes, as the WSGI server hands them over (latin-1)
        "",
    ],
)
def test_query_reads_what_request_get_reads(query_string: str) -> None:
    """The locate's quick parse agrees with Django's QueryDict, value for value."""
    request = RequestFactory().get("/api/v1/locate")
    request.META["QUERY_STRING"] = query_string
    assert params.query(request) == {key: request.GET[key] for key in request.GET}


def test_query_refuses_too_many_parameters(settings: Any) -> None:
    """Past DATA_UPLOAD_MAX_NUMBER_FIELDS: an InvalidQuery, as QueryDict refuses them."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    request = RequestFactory().get("/api/v1/locate?a=1&b=2&c=3&d=4")
    with pytest.raises(InvalidQuery, match="more than 3 parameters"):
        params.query(request)

from __future__ import annotations

import re

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from geo.api.openapi import DOCUMENT


def api_routes() -> set[str]:
    """Every URL under /api/ and /tiles/ the project serves, in OpenAPI's {param} form."""
    routes: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith(("api/", "tiles/")):
                routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_route_is_documented() -> None:
    """The document lists exactly the routes the API serves (besides itself)."""
    assert api_routes() - {"/api/v1/openapi.json"} == set(DOCUMENT["paths"])


def test_every_operation_documents_its_errors() -> None:
    """Each operation declares the errors of authentication (401, 403, 405, 429), 429 with
    Retry-After, and every error body uses the shared schema."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "405", "429"):
                assert status in responses, (path, method, status)
            assert "Retry-After" in responses["429"]["headers"]
            for status, response in responses.items():
                if status >= "400" and status != "414":  # 414: the HTTP server's own
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_operations_with_a_body_document_413_and_strict_bodies() -> None:
    """A body an operation reads has a size limit (413) and, as JSON, no undeclared fields."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            assert "413" in operation["responses"], (path, method)
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema["additionalProperties"] is False, (path, method)


def test_document_is_served_without_a_token() -> None:
    """GET /api/v1/openapi.json is public JSON, OpenAPI 3.1."""
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"

"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _error("Malformed or missing parameter; the message names the field."),
    "401": _error("No token and no signed-in session, or an unknown token."),
    "403": _error(
        "Signed in, but the role does not allow it (aliases need an editor), or a session"
        " write without the X-CSRFToken header."
    ),
    "404": _error("Unknown osm_id or country."),
    "405": _error("Method not allowed."),
}


def _param(
    name: str,
    description: str,
    *,
    required: bool = False,
    schema: dict[str, Any] | None = None,
    where: str = "query",
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


LEVEL = {
    "type": "integer",
    "minimum": 0,
    "maximum": 3,
    "description": "0 country, 1 state, 2 district, 3 ward",
}
PLACE = {"$ref": "#/components/schemas/Place"}
OSM_ID = _param("osm_id", "The boundary's osm_id (R171496).", required=True, where="path")

PATHS: dict[str, Any] = {
    "/api/v1/ping": {
        "get": {
            "summary": "Trivial authenticated answer",
            "responses": {"200": _json({"type": "object"}), **ERRORS},
        }
    },
    "/api/v1/match": {
        "get": {
            "summary": "Free text → boundaries at a level (has_state / has_district / has_ward)",
            "parameters": [
                _param("text", "What the contact typed.", required=True),
                _param("level", "Level asked for.", required=True, schema=LEVEL),
                _param(
                    "parent",
                    "The parent: an osm_id, a path, or free text resolved at the level above.",
                ),
                _param("country", "Limit to one country (workspaces without a country)."),
                _param("fuzzy", "Allow typo matches (default true).", schema={"type": "boolean"}),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "results": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Match"},
                            },
                            "ambiguous": {
                                "type": "boolean",
                                "description": "Several equally good results: no single answer.",
                            },
                            "parent": {"oneOf": [PLACE, {"type": "null"}]},
                            "parent_found": {"type": "boolean"},
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
    "/api/v1/locate": {
        "get": {
            "summary": "Every boundary containing a point, country first",
            "parameters": [
                _param("lat", "Latitude, -90..90.", required=True, schema={"type": "number"}),
                _param("lng", "Longitude, -180..180.", required=True, schema={"type": "number"}),
            ],
            "responses": {
                "200": _json(
                    {"type": "object", "properties": {"results": {"type": "array", "items": PLACE}}}
                ),
                **ERRORS,
            },
        },
        "post": {
            "summary": "Every boundary containing each of up to 10,000 points, in order",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["points"],
                            "properties": {
                                "points": {
                                    "type": "array",
                                    "maxItems": 10000,
                                    "items": {
                                        "type": "array",
                                        "items": {"type": "number"},
                                        "minItems": 2,
                                        "maxItems": 2,
                                        "description": "[lng, lat]",
                                    },
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "results": {"type": "array", "items": {"type": "array", "items": PLACE}}
                        },
                    }
                ),
                **ERRORS,
            },
        },
    },
    "/api/v1/boundaries": {
        "get": {
            "summary": "Boundaries by path, paged",
            "parameters": [
                _param("level", "Only this level.", schema=LEVEL),
                _param("parent", "Only children of this osm_id."),
                _param("q", "Name, English name or alias contains this."),
                _param("page", "1-based page.", schema={"type": "integer", "minimum": 1}),
                _param(
                    "page_size",
                    "1 to 500, default 100.",
                    schema={"type": "integer", "minimum": 1, "maximum": 500},
                ),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "count": {"type": "integer"},
                            "page": {"type": "integer"},
                            "pages": {"type": "integer"},
                            "results": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Boundary"},
                            },
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
    "/api/v1/boundaries/{osm_id}": {
        "get": {
            "summary": "One boundary, optionally with its GeoJSON geometry",
            "parameters": [
                OSM_ID,
                _param("geometry", "Add the geometry.", schema={"enum": ["simplified", "full"]}),
            ],
            "responses": {"200": _json({"$ref": "#/components/schemas/Boundary"}), **ERRORS},
        }
    },
    "/api/v1/boundaries/{osm_id}/aliases": {
        "get": {
            "summary": "The workspace's aliases of a boundary",
            "parameters": [OSM_ID],
            "responses": {"200": _json({"$ref": "#/components/schemas/Aliases"}), **ERRORS},
        },
        "put": {
            "summary": "Replace the workspace's aliases of a boundary",
            "parameters": [OSM_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["aliases"],
                            "properties": {
                                "aliases": {
                                    "type": "array",
                                    "items": {"type": "string", "maxLength": 255},
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Aliases"}),
                "409": _error("An alias already names a sibling in this workspace."),
                **ERRORS,
            },
        },
    },
    "/api/v2/boundaries.json": {
        "get": {
            "summary": "RapidPro API v2 boundaries (cursor paging by osm_id, 250 a page)",
            "parameters": [
                _param(
                    "geometry",
                    "Include the simplified geometry (the default, as current RapidPro; "
                    "false leaves it out, null in every result).",
                    schema={"type": "boolean", "default": True},
                ),
                _param("cursor", "From the previous page's next URL."),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "next": {"type": ["string", "null"]},
                            "previous": {"type": "null"},
                            "results": {"type": "array"},
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
    "/api/internal/locations.json": {
        "get": {
            "summary": "RapidPro internal locations (unknown level → empty list, as RapidPro)",
            "parameters": [
                _param("level", "state, district or ward."),
                _param("query", "Path contains this."),
                _param("cursor", "From next."),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "next": {"type": ["string", "null"]},
                            "results": {"type": "array"},
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
}

BAND = _param(
    "band",
    "0, 1, 2 (coarse to fine) or full; default 1.",
    schema={"enum": ["0", "1", "2", "full"]},
)
GEOJSON_RESPONSES = {
    "200": _json({"type": "object", "description": "FeatureCollection"}),
    **ERRORS,
}

PATHS["/api/v1/boundaries/{osm_id}/children.geojson"] = {
    "get": {
        "summary": "A boundary's children (or itself, if it has none) as RFC 7946 GeoJSON at a zoom band",
        "parameters": [
            OSM_ID,
            BAND,
        ],
        "responses": GEOJSON_RESPONSES,
    }
}

PATHS["/api/v1/countries.geojson"] = {
    "get": {
        "summary": "The workspace's country (or every imported country) as RFC 7946 GeoJSON",
        "parameters": [
            BAND,
        ],
        "responses": GEOJSON_RESPONSES,
    }
}

PATHS["/api/v1/counts"] = {
    "post": {
        "summary": "Counts per boundary: resolve a table to boundaries, totals rolled up to ancestors",
        "description": "Body: text/csv with a header (a key column osm_id, path or name, and value),"
        ' or JSON {"rows": [{"osm_id"|"path"|"name": ..., "value": n}]}. Names match'
        " after folding accents and case, including the workspace's aliases; a name shared by"
        " several boundaries is reported ambiguous. Rows that match nothing are listed.",
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
        },
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "values": {
                            "type": "object",
                            "description": "osm_id → total of the rows of it and its descendants",
                        },
                        "matched_rows": {"type": "integer"},
                        "unmatched": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "line": {"type": "integer"},
                                    "key": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            ),
            **ERRORS,
        },
    }
}

PATHS["/tiles/{z}/{x}/{y}.mvt"] = {
    "get": {
        "summary": "Mapbox Vector Tile: layers country (z0+), state (z4+), district (z6+), ward (z8+);"
        " properties osm_id, name, level, path",
        "parameters": [
            _param("z", "Zoom, 0 to 22.", required=True, schema={"type": "integer"}, where="path"),
            _param(
                "x",
                "Column, 0 to 2**z - 1.",
                required=True,
                schema={"type": "integer"},
                where="path",
            ),
            _param(
                "y", "Row, 0 to 2**z - 1.", required=True, schema={"type": "integer"}, where="path"
            ),
        ],
        "responses": {
            "200": {
                "description": "The tile (empty when no boundary is in it).",
                "content": {"application/vnd.mapbox-vector-tile": {}},
            },
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
            **ERRORS,
        },
    }
}

OPERATOR_ERRORS = {
    **ERRORS,
    "401": _error("No operator token and no signed-in session, or an unknown token."),
    "403": _error(
        "Not an operator: a workspace token, or a signed-in person who is not staff (only"
        " operators import; boundaries are shared by every workspace); or a session write"
        " without the X-CSRFToken header."
    ),
    "404": _error("No import job has that id."),
}
JOB = {"$ref": "#/components/schemas/ImportJob"}
JOB_ID = _param(
    "job_id", "The import job's id.", required=True, schema={"type": "integer"}, where="path"
)
OPERATOR_SECURITY: list[dict[str, list[str]]] = [{"operatorToken": []}, {"session": []}]
ACCEPTED = {
    "description": 'Queued. The body is the job (its id, status "queued"); Location is its URL.',
    "headers": {"Location": {"schema": {"type": "string"}, "description": "/api/v1/imports/{id}"}},
    "content": {"application/json": {"schema": JOB}},
}
QUEUE_DOWN = _error("The job queue (Redis) could not be reached; nothing was queued.")

PATHS["/api/v1/imports"] = {
    "get": {
        "summary": "Recent import jobs, newest first (operators)",
        "security": OPERATOR_SECURITY,
        "parameters": [
            _param(
                "limit",
                "1 to 500, default 50.",
                schema={"type": "integer", "minimum": 1, "maximum": 500},
            )
        ],
        "responses": {
            "200": _json(
                {"type": "object", "properties": {"results": {"type": "array", "items": JOB}}}
            ),
            **OPERATOR_ERRORS,
        },
    },
    "post": {
        "summary": "Queue an import: an uploaded file, or countries to download (operators)",
        "description": "multipart/form-data: a `file` part, either a zip of posm-extracts files"
        " or one GeoJSON file named as posm-extracts name them (R171496admin1.json,"
        " admin_level_2.json), and optionally `dry_run` (true/false). JSON: `download`, a list"
        " of countries as OSM relation ids (R171496), ISO 3166-1 codes (RW, RWA) or names"
        " (rwanda; case and accents ignored), and optionally `dry_run`. The job runs on a"
        " worker of the `imports` queue; watch it at the Location URL. A dry run records the"
        " diff and writes nothing.",
        "security": OPERATOR_SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "A .zip, or R<id>admin<N>[_simplified].json /"
                                " admin_level_<N>[_simplified].json; at most"
                                " MIPAKA_MAX_UPLOAD_BYTES (default 200 MiB).",
                            },
                            "dry_run": {"type": "boolean", "default": False},
                        },
                    },
                    "encoding": {"file": {"contentType": "application/zip, application/json"}},
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["download"],
                        "properties": {
                            "download": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 300,
                                "items": {"type": "string"},
                                "example": ["R171496", "uganda", "UG"],
                            },
                            "dry_run": {"type": "boolean", "default": False},
                        },
                    }
                },
            },
        },
        "responses": {
            "202": ACCEPTED,
            **OPERATOR_ERRORS,
            "400": _error(
                "No file or countries, a file name the import cannot use, a broken zip, or an"
                " unknown country (the message suggests close names)."
            ),
            "413": _error("The file is larger than MIPAKA_MAX_UPLOAD_BYTES."),
            "503": QUEUE_DOWN,
        },
    },
}
PATHS["/api/v1/imports/{job_id}"] = {
    "get": {
        "summary": "An import job: status, attempts, progress, counts, the diff, the error",
        "security": OPERATOR_SECURITY,
        "parameters": [JOB_ID],
        "responses": {
            "200": _json(
                {
                    "allOf": [
                        JOB,
                        {
                            "type": "object",
                            "properties": {
                                "diff": {
                                    "type": ["object", "null"],
                                    "description": "The run's changes, one line each (the"
                                    " first 5,000), and what it skipped; null before it starts.",
                                    "properties": {
                                        "entries": {"type": "array", "items": {"type": "string"}},
                                        "changes": {
                                            "type": "array",
                                            "description": "The same changes, as fields.",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "change": {"type": "string"},
                                                    "osm_id": {"type": "string"},
                                                    "level": {"type": "integer"},
                                                    "path": {"type": "string"},
                                                    "detail": {"type": "string"},
                                                },
                                            },
                                        },
                                        "skipped": {"type": "array", "items": {"type": "string"}},
                                        "notes": {"type": "array", "items": {"type": "string"}},
                                    },
                                }
                            },
                        },
                    ]
                }
            ),
            **OPERATOR_ERRORS,
        },
    }
}
PATHS["/api/v1/imports/{job_id}/changes.geojson"] = {
    "get": {
        "summary": "A dry run's changed boundaries as RFC 7946 GeoJSON, before and after",
        "description": "For the first 300 boundaries a dry run would add, reshape, move or remove:"
        " a coarse outline as stored now (side before) and as the files have it (side after)."
        " Properties osm_id, name, level, change, side. Empty for real imports and for dry runs"
        " that change no shape.",
        "security": OPERATOR_SECURITY,
        "parameters": [JOB_ID],
        "responses": {
            "200": _json({"type": "object", "description": "FeatureCollection"}),
            **OPERATOR_ERRORS,
        },
    }
}
PATHS["/api/v1/imports/{job_id}/apply"] = {
    "post": {
        "summary": "Queue the real import of a succeeded dry run's input (operators)",
        "description": "A new job, not a dry run, reading the same uploaded file or downloading"
        " the same countries again; `applies` names the dry run.",
        "security": OPERATOR_SECURITY,
        "parameters": [JOB_ID],
        "responses": {
            "202": ACCEPTED,
            **OPERATOR_ERRORS,
            "400": _error("The job is not a dry run, or it has not succeeded."),
            "503": QUEUE_DOWN,
        },
    }
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Mipaka",
        "version": "1",
        "description": "Administrative boundaries for messaging flows: text and points to boundaries.",
    },
    "security": [{"token": []}, {"session": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Token <token>",
            },
            "operatorToken": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Token <operator token>, printed by manage.py create_operator;"
                " opens only the import endpoints.",
            },
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "sessionid",
                "description": "A signed-in browser (the web map), acting for the person's"
                " current workspace with their role; writes also send X-CSRFToken.",
            },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Place": {
                "type": "object",
                "properties": {
                    "osm_id": {"type": "string"},
                    "name": {"type": "string"},
                    "name_en": {"type": "string"},
                    "level": LEVEL,
                    "path": {"type": "string", "example": "Rwanda > Kigali City > Gasabo"},
                    "parent_osm_id": {"type": ["string", "null"]},
                },
            },
            "Match": {
                "allOf": [
                    PLACE,
                    {
                        "type": "object",
                        "properties": {
                            "match": {
                                "type": "object",
                                "properties": {
                                    "method": {"enum": ["path", "exact", "token", "fuzzy"]},
                                    "field": {"enum": ["name", "name_en", "alias", "path"]},
                                    "text": {"type": "string"},
                                    "score": {"type": "number"},
                                },
                            }
                        },
                    },
                ]
            },
            "Boundary": {
                "allOf": [
                    PLACE,
                    {
                        "type": "object",
                        "properties": {
                            "aliases": {"type": "array", "items": {"type": "string"}},
                            "bbox": {"type": ["array", "null"]},
                            "area_km2": {"type": ["number", "null"]},
                            "has_children": {"type": "boolean"},
                            "ancestors": {
                                "type": "array",
                                "description": "From the country down to the parent (detail only).",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "osm_id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "level": {"type": "integer"},
                                    },
                                },
                            },
                            "geometry": {"type": "object"},
                        },
                    },
                ]
            },
            "ImportJob": {
                "type": "object",
                "required": ["id", "status", "attempts", "progress"],
                "properties": {
                    "id": {"type": "integer"},
                    "status": {"enum": ["queued", "running", "succeeded", "failed"]},
                    "kind": {"enum": ["upload", "download"]},
                    "dry_run": {"type": "boolean"},
                    "attempts": {
                        "type": "integer",
                        "description": "Deliveries that started the job; a job whose worker"
                        " died is delivered again, and fails after 2 such attempts.",
                    },
                    "file": {
                        "type": ["object", "null"],
                        "properties": {
                            "name": {"type": "string"},
                            "size": {"type": "integer"},
                            "sha256": {"type": "string"},
                        },
                    },
                    "countries": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "OSM relation ids a download job fetches.",
                    },
                    "applies": {
                        "type": ["integer", "null"],
                        "description": "The dry run this job applies.",
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": {"type": ["string", "null"], "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    "error": {"type": ["string", "null"]},
                    "progress": {
                        "type": "object",
                        "description": "The current stage (queued, download, read, repair,"
                        " simplify, write) and its steps.",
                        "properties": {
                            "stage": {"type": "string"},
                            "done": {"type": "integer"},
                            "total": {"type": "integer"},
                        },
                    },
                    "run": {
                        "type": ["object", "null"],
                        "description": "The import run the job started (the latest attempt's).",
                        "properties": {
                            "id": {"type": "integer"},
                            "status": {
                                "enum": [
                                    "running",
                                    "succeeded",
                                    "unchanged",
                                    "dry_run",
                                    "failed",
                                    "abandoned",
                                ]
                            },
                            "counts": {
                                "type": "object",
                                "description": "features_read, files_parsed, boundaries_after,"
                                " changes (added/updated/… → n), quirks, skipped, seconds.",
                            },
                            "error": {"type": ["string", "null"]},
                        },
                    },
                },
            },
            "Aliases": {
                "type": "object",
                "properties": {
                    "osm_id": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


@require_GET
def openapi_document(request: HttpRequest) -> JsonResponse:
    """Serve the API description (public: it holds no data)."""
    return JsonResponse(DOCUMENT)

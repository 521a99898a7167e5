"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from geo.aliases import ALIAS_LETTERS
from geo.api.params import (
    BLANK_CHARACTERS,
    CONTROL_CHARACTERS,
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
)
from geo.exporting import CONTENT_TYPES, FORMATS, GEOMETRIES
from geo.models import CODE_SCHEMES, ChangeKind, Succession


def _error(description: str, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


# Every error an operation can answer, by status; each operation lists the ones it can
# give with errors(...). The body is always {"error": {"code", "message"}}.
ERRORS = {
    "400": _error(
        "Malformed or missing parameter or body, or text with a control character;"
        " the message names the field."
    ),
    "401": _error("No token and no signed-in session, or an unknown, revoked or expired token."),
    "403": _error(
        "The role or token scope does not allow it (alias edits need an editor or a"
        " read-write token), a session write without the X-CSRFToken header, or a person"
        " in no workspace."
    ),
    "404": _error("Unknown osm_id or country, or one outside the workspace."),
    "405": _error(
        "Method not allowed.",
        headers={"Allow": {"description": "The methods allowed.", "schema": {"type": "string"}}},
    ),
    "413": _error("Request body larger than the endpoint accepts."),
    "415": _error("Request body in a format the endpoint does not read."),
    "429": _error(
        "Too many unknown tokens from this address: every token is refused until the window ends.",
        headers={
            "Retry-After": {
                "description": "Seconds until the address may try again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    ),
}
# What any authenticated operation can answer besides its own errors.
AUTH_ERRORS = ("401", "403", "405", "429")
# Answered by the HTTP server in front (gunicorn: a request line over 4094 bytes),
# before Mipaka sees the request, in that server's format.
URI_TOO_LONG = {"414": {"description": "Request line too long (the HTTP server in front)."}}


def errors(*statuses: str) -> dict[str, Any]:
    """Return the documented error responses: ``statuses`` plus those of authentication."""
    return {status: ERRORS[status] for status in sorted({*statuses, *AUTH_ERRORS})} | URI_TOO_LONG


def _text(*, max_length: int = 1000, required: bool = False) -> dict[str, Any]:
    """Return a text parameter's schema: no control characters (tab and line breaks are fine)."""
    return {
        "type": "string",
        "maxLength": max_length,
        "pattern": NON_BLANK_TEXT_PATTERN if required else TEXT_PATTERN,
    }


# A CSV of counts as documented: a header "osm_id,value" (or path, name), then rows
# of a key and a decimal value. The API also reads quoted fields, other column orders
# and extra columns; this is the part of CSV that JSON Schema can state exactly.
_CSV_KEY = (
    f'[^,"{CONTROL_CHARACTERS}\\r\\n]*[^,"{CONTROL_CHARACTERS}{BLANK_CHARACTERS}]'
    f'[^,"{CONTROL_CHARACTERS}\\r\\n]*'
)
COUNTS_CSV_PATTERN = (
    f"^\\ufeff?(?:osm_id|path|name),value(?:\\r?\\n{_CSV_KEY},[+-]?[0-9]+(?:\\.[0-9]+)?)*"
    "(?:\\r?\\n)?$"
)
# An alias: blank (dropped), or at least two letters or digits (as geo.aliases counts them).
ALIAS_PATTERN = (
    f"^(?:[{BLANK_CHARACTERS}]*|[\\s\\S]*[{ALIAS_LETTERS}][\\s\\S]*[{ALIAS_LETTERS}][\\s\\S]*)$"
)

# true/false as the API reads them (also 1/0, yes/no, on/off).
BOOLEAN = {
    "type": "string",
    "enum": ["true", "false", "True", "False", "1", "0", "yes", "no", "on", "off"],
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
LOCATED = {"$ref": "#/components/schemas/LocatedPlace"}
SNAP = {"type": "number", "minimum": 0, "maximum": 5000, "default": 0}
SNAP_DESCRIPTION = (
    "Metres, 0..5000 (default 0: exact). A point that no boundary covers gets, per level,"
    " the nearest boundary within this distance (several when equally near), and every"
    " result then carries distance_m (0 for a boundary covering the point)."
)
OSM_ID = _param(
    "osm_id",
    "The boundary's osm_id (R171496).",
    required=True,
    where="path",
    # One path segment: no "/" (another route), no control character.
    schema={"type": "string", "maxLength": 64, "pattern": f"^[^/{CONTROL_CHARACTERS}]+$"},
)
PAGE = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
PAGE_PARAMS = [
    _param("page", "1-based page; past the last, no results.", schema=PAGE),
    _param(
        "page_size",
        "1 to 500, default 100.",
        schema={"type": "integer", "minimum": 1, "maximum": 500},
    ),
]


def _paged(item_ref: str) -> dict[str, Any]:
    """Describe the body of a paged listing: counts and one page of items."""
    return {
        "type": "object",
        "required": ["count", "page", "pages", "results"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "pages": {"type": "integer", "minimum": 1},
            "results": {"type": "array", "items": {"$ref": item_ref}},
        },
    }


DISPLAY_NAME = {
    "type": "string",
    "description": "The name in the workspace's language where the boundary has one, else"
    " name (which stays the source's name: flows store it).",
}
CODES = {
    "type": "object",
    "description": "The boundary's codes by scheme (pcode, iso3166_2, gid, shape_id,"
    " wikidata, ref, hasc); only those the sources carry.",
    "additionalProperties": {"type": "string"},
    "example": {"iso3166_2": "RW-02", "wikidata": "Q3294"},
}
LINKED = {"$ref": "#/components/schemas/LinkedBoundary"}
SUCCESSION_KINDS = [str(kind) for kind in Succession]
CHANGE_KINDS = [str(kind) for kind in ChangeKind]
AS_OF_DESCRIPTION = (
    "A day, YYYY-MM-DD: answer as the boundaries were at the end of that day (UTC), with"
    " the names, parents, paths and shapes they had then (from the import history), and"
    " the workspace's aliases of that day (from its audit log)."
    " A day before the first import, or after today, has no boundaries: empty results."
)
AS_OF = {
    "type": "string",
    "format": "date",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "description": AS_OF_DESCRIPTION,
}
AS_OF_PARAM = _param("as_of", AS_OF_DESCRIPTION, schema=AS_OF)
RESOLVE_STATUSES = [
    "current", "renamed", "moved", "rekeyed", "split", "merged", "retired", "unknown",
]  # fmt: skip
CURSOR = _param(
    "cursor",
    "From the previous page's next URL (base64url).",
    schema={
        "type": "string",
        "maxLength": 1000,
        "pattern": "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$",
    },
)

PATHS: dict[str, Any] = {
    "/api/v1/ping": {
        "get": {
            "summary": "Trivial authenticated answer",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["ok", "workspace"],
                        "properties": {"ok": {"const": True}, "workspace": {"type": "string"}},
                    }
                ),
                **errors(),
            },
        }
    },
    "/api/v1/match": {
        "get": {
            "summary": "Free text → boundaries at a level (has_state / has_district / has_ward)",
            "parameters": [
                _param(
                    "text", "What the contact typed.", required=True, schema=_text(required=True)
                ),
                _param("level", "Level asked for.", required=True, schema=LEVEL),
                _param(
                    "parent",
                    "The parent: an osm_id, a path, or free text resolved at the level above.",
                    schema=_text(),
                ),
                _param(
                    "country",
                    "Limit to one country (workspaces without a country); unknown: 404.",
                    schema=_text(),
                ),
                _param("fuzzy", "Allow typo matches (default true).", schema=BOOLEAN),
                AS_OF_PARAM,
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["results", "ambiguous", "parent", "parent_found"],
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
                **errors("400", "404"),
            },
        }
    },
    "/api/v1/locate": {
        "get": {
            "summary": "Every boundary containing a point, country first",
            "parameters": [
                _param(
                    "lat",
                    "Latitude, -90..90.",
                    required=True,
                    schema={"type": "number", "minimum": -90, "maximum": 90},
                ),
                _param(
                    "lng",
                    "Longitude, -180..180.",
                    required=True,
                    schema={"type": "number", "minimum": -180, "maximum": 180},
                ),
                _param("snap", SNAP_DESCRIPTION, schema=SNAP),
                _param(
                    "as_of",
                    AS_OF_DESCRIPTION + " Exact (PostGIS); snap is not applied to a past day.",
                    schema=AS_OF,
                ),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["results"],
                        "properties": {"results": {"type": "array", "items": LOCATED}},
                    }
                ),
                **errors("400"),
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
                            "additionalProperties": False,
                            "properties": {
                                "points": {
                                    "type": "array",
                                    "maxItems": 10000,
                                    "items": {
                                        "type": "array",
                                        "prefixItems": [
                                            {"type": "number", "minimum": -180, "maximum": 180},
                                            {"type": "number", "minimum": -90, "maximum": 90},
                                        ],
                                        "items": False,
                                        "minItems": 2,
                                        "description": "[lng, lat]",
                                    },
                                },
                                "snap": {**SNAP, "description": SNAP_DESCRIPTION},
                                "as_of": {
                                    **AS_OF,
                                    "description": AS_OF_DESCRIPTION
                                    + " Exact (PostGIS); snap is not applied to a past day.",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["results"],
                        "properties": {
                            "results": {
                                "type": "array",
                                "items": {"type": "array", "items": LOCATED},
                            }
                        },
                    }
                ),
                **errors("400", "413"),
            },
        },
    },
    "/api/v1/boundaries": {
        "get": {
            "summary": "Boundaries by path, paged",
            "parameters": [
                _param("level", "Only this level.", schema=LEVEL),
                _param("parent", "Only children of this osm_id.", schema=_text()),
                _param(
                    "q",
                    "One of its names (its own, English, in another language, a variant) or"
                    " an alias contains this, case aside.",
                    schema=_text(max_length=255),
                ),
                _param(
                    "code",
                    "Has this code, in any scheme (or in scheme=): exact but for case.",
                    schema=_text(max_length=255),
                ),
                _param(
                    "scheme",
                    "With code: only codes of this scheme.",
                    schema={"type": "string", "enum": list(CODE_SCHEMES)},
                ),
                *PAGE_PARAMS,
                AS_OF_PARAM,
            ],
            "responses": {
                "200": _json(_paged("#/components/schemas/Boundary")),
                **errors("400"),
            },
        }
    },
    "/api/v1/changes": {
        "get": {
            "summary": "What imports changed since an import or a day, oldest first, paged",
            "description": "Each change names its import, when, its kind, the boundary (osm_id"
            " and path after the change; a retired boundary's last), what it replaced (`was`:"
            " old path, name or osm_id, where relevant) and, for a boundary that left its"
            " source, its successors with the share of its area each took.",
            "parameters": [
                _param(
                    "since",
                    "An import's id (changes of later imports) or a day, YYYY-MM-DD (UTC, from"
                    " its start; a day past its month's end counts on into the next month).",
                    required=True,
                    schema={
                        "type": "string",
                        "pattern": "^(?:[0-9]{1,12}|[1-9][0-9]{3}-(?:0[1-9]|1[0-2])"
                        "-(?:0[1-9]|[12][0-9]|3[01]))$",
                    },
                ),
                _param(
                    "country",
                    "Only boundaries of this country (osm_id).",
                    schema=_text(max_length=64),
                ),
                *PAGE_PARAMS,
            ],
            "responses": {
                "200": _json(_paged("#/components/schemas/Change")),
                **errors("400"),
            },
        }
    },
    "/api/v1/boundaries/{osm_id}": {
        "get": {
            "summary": "One boundary (current or retired), optionally with its GeoJSON geometry",
            "parameters": [
                OSM_ID,
                _param(
                    "geometry",
                    "Add the geometry (null for a boundary imported without one).",
                    schema={"type": "string", "enum": ["simplified", "full"]},
                ),
            ],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/BoundaryDetail"}),
                "301": {
                    "description": "The osm_id was re-keyed by an import: Location names"
                    " the boundary under today's osm_id (the query string kept).",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **errors("400", "404"),
            },
        }
    },
    "/api/v1/boundaries/{osm_id}/aliases": {
        "get": {
            "summary": "The workspace's aliases of a boundary",
            "parameters": [OSM_ID],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Aliases"}),
                **errors("400", "404"),
            },
        },
        "put": {
            "summary": "Replace the workspace's aliases of a boundary",
            "description": "Needs an editor, an admin or a read-write token (read-only: 403)."
            " Blank lines are dropped and duplicates (after folding case and accents) kept"
            " once. Refused with a 400 naming the alias: fewer than 2 letters or digits, or"
            " only common words of English, French, Portuguese, Spanish, Swahili or"
            " Kinyarwanda (a, the, de, la, na, ya…), which would match nearly every message.",
            "parameters": [OSM_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["aliases"],
                            "additionalProperties": False,
                            "properties": {
                                "aliases": {
                                    "type": "array",
                                    "maxItems": 100,
                                    "items": {
                                        "type": "string",
                                        "maxLength": 255,
                                        "allOf": [
                                            {"pattern": TEXT_PATTERN},
                                            {"pattern": ALIAS_PATTERN},
                                        ],
                                    },
                                }
                            },
                        },
                        "example": {"aliases": ["Kigari", "Riverside Town"]},
                    }
                },
            },
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Aliases"}),
                "409": _error("An alias already names a sibling in this workspace."),
                **errors("400", "404", "413"),
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
                    schema={**BOOLEAN, "default": "true"},
                ),
                CURSOR,
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["next", "previous", "results"],
                        "properties": {
                            "next": {"type": ["string", "null"]},
                            "previous": {"type": "null"},
                            "results": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/RapidProBoundary"},
                            },
                        },
                    }
                ),
                **errors("400"),
            },
        }
    },
    "/api/internal/locations.json": {
        "get": {
            "summary": "RapidPro internal locations (unknown level → empty list, as RapidPro)",
            "parameters": [
                _param("level", "state, district or ward.", schema=_text()),
                _param("query", "Path contains this.", schema=_text(max_length=255)),
                CURSOR,
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["next", "previous", "results"],
                        "properties": {
                            "next": {"type": ["string", "null"]},
                            "previous": {"type": "null"},
                            "results": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["osm_id", "name", "path"],
                                    "properties": {
                                        "osm_id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "path": {"type": "string"},
                                    },
                                },
                            },
                        },
                    }
                ),
                **errors("400"),
            },
        }
    },
}

BAND = _param(
    "band",
    "0, 1, 2 (coarse to fine) or full; default 1.",
    schema={"enum": ["0", "1", "2", "full"]},
)
FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "name", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "name": {"type": "string"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "properties", "geometry"],
                "properties": {
                    "type": {"const": "Feature"},
                    "properties": {
                        "type": "object",
                        "required": [
                            "osm_id",
                            "name",
                            "display_name",
                            "level",
                            "path",
                            "has_children",
                        ],
                        "properties": {
                            "osm_id": {"type": "string"},
                            "name": {"type": "string"},
                            "display_name": DISPLAY_NAME,
                            "level": LEVEL,
                            "path": {"type": "string"},
                            "has_children": {"type": "boolean"},
                        },
                    },
                    "geometry": {"$ref": "#/components/schemas/Geometry"},
                },
            },
        },
    },
}
GEOJSON_RESPONSES = {
    "200": {
        "description": "An RFC 7946 FeatureCollection.",
        "content": {"application/geo+json": {"schema": FEATURE_COLLECTION}},
    },
}

PATHS["/api/v1/boundaries/{osm_id}/children.geojson"] = {
    "get": {
        "summary": "A boundary's children (or itself, if it has none) as RFC 7946 GeoJSON at a zoom band",
        "parameters": [
            OSM_ID,
            BAND,
        ],
        "responses": {**GEOJSON_RESPONSES, **errors("400", "404")},
    }
}

BINARY = {"type": "string", "format": "binary"}
EXPORT_SCHEMAS = {
    "geojson": {
        "type": "object",
        "description": "One FeatureCollection holding every level (a level property).",
        "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
    },
    "csv": {"type": "string", "description": "UTF-8 CSV with a header line."},
}

PATHS["/api/v1/export"] = {
    "get": {
        "summary": "The workspace's boundaries as a GIS file (GeoPackage, zipped Shapefile,"
        " GeoJSON or CSV) in the Mipaka layout",
        "description": "One layer per level (admin0..admin3; Shapefile: admin<n>.shp in a zip;"
        " GeoJSON and CSV: one table with a level column). Columns: osm_id, level, name,"
        " name_en, parent_id (the parent's osm_id, empty for countries), path, one column per"
        " code scheme present, one name_<lang> column per language present, alt_names and"
        " aliases (the workspace's; ; between names), and the geometry in EPSG:4326 (CSV: WKT"
        " in a geometry column). Retired boundaries are left out. Sent as a download.",
        "parameters": [
            _param(
                "format",
                "File format.",
                required=True,
                schema={"type": "string", "enum": list(FORMATS)},
            ),
            {
                **_param(
                    "country",
                    "Only this country's boundaries (repeatable); default every country the"
                    " workspace sees. Unknown or outside the workspace: 404.",
                    schema={"type": "array", "items": _text(max_length=64)},
                ),
                "style": "form",
                "explode": True,
            },
            _param(
                "geometry",
                "full (default) or simplified; none: names and codes only (no geometry column in"
                " csv, null geometries in the other formats).",
                schema={"type": "string", "enum": list(GEOMETRIES)},
            ),
        ],
        "responses": {
            "200": {
                "description": "The file, as an attachment (Content-Disposition names it).",
                "headers": {
                    "Content-Disposition": {
                        "description": "attachment; filename=mipaka-boundaries[-<country>…].<ext>",
                        "schema": {"type": "string"},
                    }
                },
                "content": {
                    content_type.split(";")[0]: {"schema": EXPORT_SCHEMAS.get(file_format, BINARY)}
                    for file_format, content_type in CONTENT_TYPES.items()
                },
            },
            **errors("400", "404"),
        },
    }
}

PATHS["/api/v1/countries.geojson"] = {
    "get": {
        "summary": "The workspace's country (or every imported country) as RFC 7946 GeoJSON",
        "parameters": [
            BAND,
        ],
        "responses": {**GEOJSON_RESPONSES, **errors("400")},
    }
}

PATHS["/api/v1/resolve"] = {
    "post": {
        "summary": "Stored values (paths, osm_ids, codes, names) → what each means today",
        "description": "Each value is read as an osm_id, a code of any scheme (p-code, ISO 3166-2,"
        " wikidata …), a path (case, accents and spacing ignored; '>' or '/', ',', ';', '|'"
        " separate; the country may be left out, the order reversed) or a name or alias of the"
        " workspace. Today's boundaries first (status current); then earlier names, paths,"
        " osm_ids and codes and retired boundaries, followed import after import to today's"
        " boundaries. boundary: today's boundary when there is one answer; candidates: every"
        " boundary it may now be, with the share of the old area each took (a split), or the"
        " places an ambiguous name names (share null). Status: the strongest change met"
        " (split > merged > moved > renamed > rekeyed); retired: no successor; unknown: never"
        " a boundary of this workspace. Stores nothing: read-only tokens may resolve."
        " At most 1,000 values.",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["values"],
                        "additionalProperties": False,
                        "properties": {
                            "values": {
                                "type": "array",
                                "maxItems": 1000,
                                "items": _text(),
                            },
                            "level": {**LEVEL, "description": "Only boundaries of this level."},
                        },
                    },
                    "example": {"values": ["Rwanda > Kigali > Gasabo", "R171496"]},
                }
            },
        },
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Resolution"},
                        }
                    },
                }
            ),
            **errors("400", "413"),
        },
    }
}

PATHS["/api/v1/counts"] = {
    "post": {
        "summary": "Counts per boundary: resolve a table to boundaries, totals rolled up to ancestors",
        "description": "Body: text/csv with a header (a key column osm_id, path or name, and value),"
        ' or JSON {"rows": [{"osm_id"|"path"|"name": ..., "value": n}]}. Names match'
        " after folding accents and case, including the workspace's aliases; a name shared by"
        " several boundaries is reported ambiguous. Rows that match nothing are listed."
        " Counting stores nothing: read-only tokens may count. At most 100,000 rows and 10 MB.",
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string", "pattern": COUNTS_CSV_PATTERN},
                    "example": "osm_id,value\nR9001,12\n",
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["rows"],
                        "additionalProperties": False,
                        "properties": {
                            "rows": {
                                "type": "array",
                                "maxItems": 100_000,
                                "items": {"$ref": "#/components/schemas/CountRow"},
                            }
                        },
                    },
                    "example": {"rows": [{"osm_id": "R9001", "value": 12}]},
                },
            },
        },
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "values": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                            "description": "osm_id → total of the rows of it and its descendants",
                        },
                        "matched_rows": {"type": "integer", "minimum": 0},
                        "unmatched": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["line", "key", "reason"],
                                "properties": {
                                    "line": {"type": "integer"},
                                    "key": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                    "required": ["values", "matched_rows", "unmatched"],
                }
            ),
            **errors("400", "413", "415"),
        },
    }
}

TILE_HEADERS = {
    "ETag": {"description": "Changes with every import.", "schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string"}},
}

PATHS["/tiles/{z}/{x}/{y}.mvt"] = {
    "get": {
        "summary": "Mapbox Vector Tile: layers country (z0+), state (z4+), district (z6+), ward (z8+);"
        " properties osm_id, name, level, path",
        "parameters": [
            _param(
                "z",
                "Zoom, 0 to 22.",
                required=True,
                schema={"type": "integer", "minimum": 0, "maximum": 22},
                where="path",
            ),
            _param(
                "x",
                "Column, 0 to 2**z - 1 (past it: 404).",
                required=True,
                schema={"type": "integer", "minimum": 0},
                where="path",
            ),
            _param(
                "y",
                "Row, 0 to 2**z - 1 (past it: 404).",
                required=True,
                schema={"type": "integer", "minimum": 0},
                where="path",
            ),
        ],
        "responses": {
            "200": {
                "description": "The tile (empty when no boundary is in it).",
                "headers": TILE_HEADERS,
                "content": {
                    "application/vnd.mapbox-vector-tile": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                },
            },
            "304": {
                "description": "Not modified (If-None-Match matched the ETag).",
                "headers": TILE_HEADERS,
            },
            **errors("404"),
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
        " admin_level_2.json), read by import_geojson; or any other GIS source, read by"
        " import_boundaries (COD-AB, geoBoundaries, GADM or Mipaka layouts): a zip of"
        " Shapefiles or other files, or one GeoPackage, GeoJSON, FlatGeobuf, KML or CSV file;"
        " and optionally `dry_run` (true/false). JSON: `download`, a list"
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
                        "additionalProperties": False,
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "A .zip, R<id>admin<N>[_simplified].json /"
                                " admin_level_<N>[_simplified].json, or a .gpkg, .geojson,"
                                " .json, .fgb, .kml, .kmz or .csv file; at most"
                                " MIPAKA_MAX_UPLOAD_BYTES (default 200 MiB).",
                            },
                            "dry_run": {"type": "boolean", "default": False},
                        },
                    },
                    "encoding": {
                        "file": {
                            "contentType": "application/zip, application/json,"
                            " application/geo+json, application/geopackage+sqlite3,"
                            " application/vnd.google-earth.kml+xml, text/csv,"
                            " application/octet-stream"
                        }
                    },
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["download"],
                        "additionalProperties": False,
                        "properties": {
                            "download": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 300,
                                "items": {"type": "string", "pattern": NON_BLANK_TEXT_PATTERN},
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
                                                    "succession": {
                                                        "description": "A retired boundary's:"
                                                        " how it went.",
                                                        "enum": SUCCESSION_KINDS,
                                                    },
                                                    "successors": {
                                                        "type": "array",
                                                        "description": "A retired boundary's"
                                                        " successors and the share of its area"
                                                        " each took.",
                                                        "items": {
                                                            "type": "object",
                                                            "required": [
                                                                "osm_id",
                                                                "name",
                                                                "path",
                                                                "share",
                                                            ],
                                                            "properties": {
                                                                "osm_id": {"type": "string"},
                                                                "name": {"type": "string"},
                                                                "path": {"type": "string"},
                                                                "share": {
                                                                    "type": "number",
                                                                    "minimum": 0,
                                                                    "maximum": 1,
                                                                },
                                                            },
                                                        },
                                                    },
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
        "summary": "A job's changed boundaries as RFC 7946 GeoJSON, before and after",
        "description": "For the first 300 boundaries a dry run would add, reshape, move or retire:"
        " a coarse outline as stored now (side before) and as the files have it (side after)."
        " For an applied import, the same from the history it left: the states it ended"
        " (before) and the states it began (after). Properties osm_id, name, level, change,"
        " side. Empty for runs that changed no shape, failed or are still running.",
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
                "required": [
                    "osm_id",
                    "name",
                    "name_en",
                    "display_name",
                    "level",
                    "path",
                    "parent_osm_id",
                    "codes",
                ],
                "properties": {
                    "osm_id": {"type": "string"},
                    "name": {"type": "string"},
                    "name_en": {"type": "string", "description": "Empty when the source has none."},
                    "display_name": DISPLAY_NAME,
                    "level": LEVEL,
                    "path": {"type": "string", "example": "Rwanda > Kigali City > Gasabo"},
                    "parent_osm_id": {"type": ["string", "null"]},
                    "codes": CODES,
                },
            },
            "Resolution": {
                "type": "object",
                "required": ["value", "status", "boundary", "candidates"],
                "properties": {
                    "value": {"type": "string"},
                    "status": {"enum": RESOLVE_STATUSES},
                    "boundary": {"oneOf": [PLACE, {"type": "null"}]},
                    "candidates": {
                        "type": "array",
                        "items": {
                            "allOf": [
                                PLACE,
                                {
                                    "type": "object",
                                    "required": ["share"],
                                    "properties": {
                                        "share": {
                                            "type": ["number", "null"],
                                            "minimum": 0,
                                            "maximum": 1,
                                        }
                                    },
                                },
                            ]
                        },
                    },
                },
            },
            "LocatedPlace": {
                "allOf": [
                    PLACE,
                    {
                        "type": "object",
                        "properties": {
                            "distance_m": {
                                "type": "number",
                                "minimum": 0,
                                "maximum": 5000,
                                "description": "Only with snap > 0: metres from the point"
                                " (WGS 84 ellipsoid, as PostGIS geography), 0 when it covers it.",
                            }
                        },
                    },
                ]
            },
            "Match": {
                "allOf": [
                    PLACE,
                    {
                        "type": "object",
                        "required": ["match"],
                        "properties": {
                            "match": {
                                "type": "object",
                                "required": ["method", "field", "text", "score"],
                                "properties": {
                                    "method": {"enum": ["path", "exact", "code", "token", "fuzzy"]},
                                    "field": {
                                        "description": "What matched: the name, the English"
                                        " name, a name in another language (names), a variant"
                                        " (other_names), a workspace alias, the path, a code.",
                                        "enum": [
                                            "name",
                                            "name_en",
                                            "names",
                                            "other_names",
                                            "alias",
                                            "path",
                                            "code",
                                        ],
                                    },
                                    "text": {"type": "string"},
                                    "score": {"type": "number", "minimum": 0, "maximum": 1},
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
                        "required": ["aliases"],
                        "properties": {"aliases": {"type": "array", "items": {"type": "string"}}},
                    },
                ]
            },
            "BoundaryDetail": {
                "allOf": [
                    {"$ref": "#/components/schemas/Boundary"},
                    {
                        "type": "object",
                        "required": [
                            "bbox",
                            "area_km2",
                            "geometry_source",
                            "ancestors",
                            "has_children",
                            "retired",
                            "successors",
                            "predecessors",
                        ],
                        "properties": {
                            "bbox": {
                                "description": "[west, south, east, north]; null without geometry.",
                                "oneOf": [
                                    {
                                        "type": "array",
                                        "items": {"type": "number"},
                                        "minItems": 4,
                                        "maxItems": 4,
                                    },
                                    {"type": "null"},
                                ],
                            },
                            "area_km2": {"type": ["number", "null"]},
                            "geometry_source": {"type": "string"},
                            "has_children": {"type": "boolean"},
                            "retired": {
                                "description": "When and by which import the boundary left its"
                                " source; null for a current boundary.",
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["at", "import"],
                                        "properties": {
                                            "at": {"type": "string", "format": "date-time"},
                                            "import": {"type": ["integer", "null"]},
                                        },
                                    },
                                    {"type": "null"},
                                ],
                            },
                            "successors": {
                                "type": "array",
                                "description": "A retired boundary's successors, newest first;"
                                " share is the part of its area each took.",
                                "items": LINKED,
                            },
                            "predecessors": {
                                "type": "array",
                                "description": "Boundaries this one took area from (or was,"
                                " before a re-key), newest first; share is the part of the"
                                " predecessor's area.",
                                "items": LINKED,
                            },
                            "ancestors": {
                                "type": "array",
                                "description": "From the country down to the parent.",
                                "items": {
                                    "type": "object",
                                    "required": ["osm_id", "name", "display_name", "level"],
                                    "properties": {
                                        "osm_id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "display_name": DISPLAY_NAME,
                                        "level": LEVEL,
                                    },
                                },
                            },
                            "geometry": {
                                "description": "Only with ?geometry=; null for a boundary"
                                " imported without geometry.",
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Geometry"},
                                    {"type": "null"},
                                ],
                            },
                        },
                    },
                ]
            },
            "LinkedBoundary": {
                "type": "object",
                "required": ["osm_id", "name", "path", "kind", "share"],
                "properties": {
                    "osm_id": {"type": "string"},
                    "name": {"type": "string"},
                    "path": {"type": "string"},
                    "kind": {"enum": SUCCESSION_KINDS},
                    "share": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
            "Change": {
                "type": "object",
                "required": ["import", "at", "kind", "osm_id", "path", "was", "successors"],
                "properties": {
                    "import": {"type": ["integer", "null"]},
                    "at": {"type": "string", "format": "date-time"},
                    "kind": {"enum": CHANGE_KINDS},
                    "osm_id": {"type": "string"},
                    "path": {"type": "string"},
                    "was": {
                        "description": "What the change replaced: path, name or osm_id.",
                        "oneOf": [
                            {
                                "type": "object",
                                "properties": {
                                    "path": {"type": "string"},
                                    "name": {"type": "string"},
                                    "osm_id": {"type": "string"},
                                },
                            },
                            {"type": "null"},
                        ],
                    },
                    "successors": {"type": "array", "items": LINKED},
                },
            },
            "Geometry": {
                "type": "object",
                "description": "RFC 7946 geometry, exteriors counter-clockwise.",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"enum": ["Polygon", "MultiPolygon"]},
                    "coordinates": {"type": "array"},
                },
            },
            "Aliases": {
                "type": "object",
                "required": ["osm_id", "aliases"],
                "properties": {
                    "osm_id": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                },
            },
            "CountRow": {
                "type": "object",
                "description": "osm_id, path or name (the first that is not blank is used),"
                " and a value.",
                "properties": {
                    "osm_id": {"type": "string", "pattern": TEXT_PATTERN},
                    "path": {"type": "string", "pattern": TEXT_PATTERN},
                    "name": {"type": "string", "pattern": TEXT_PATTERN},
                    "value": {"type": "number"},
                },
                "required": ["value"],
                "anyOf": [
                    {
                        "required": [column],
                        "properties": {column: {"pattern": NON_BLANK_TEXT_PATTERN}},
                    }
                    for column in ("osm_id", "path", "name")
                ],
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
                            "deleted_at": {
                                "type": ["string", "null"],
                                "format": "date-time",
                                "description": "When the file's bytes were deleted"
                                " (MIPAKA_UPLOAD_RETENTION_DAYS after its upload); a dry run"
                                " of it can no longer be applied.",
                            },
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
            "RapidProBoundary": {
                "type": "object",
                "required": ["osm_id", "name", "parent", "level", "aliases", "geometry", "codes"],
                "properties": {
                    "osm_id": {"type": "string"},
                    "name": {"type": "string"},
                    "parent": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["osm_id", "name"],
                                "properties": {
                                    "osm_id": {"type": "string"},
                                    "name": {"type": "string"},
                                },
                            },
                            {"type": "null"},
                        ]
                    },
                    "level": LEVEL,
                    "aliases": {"type": "array", "items": {"type": "string"}},
                    "geometry": {
                        "description": "Unless ?geometry=false; null then, or without geometry.",
                        "oneOf": [{"$ref": "#/components/schemas/Geometry"}, {"type": "null"}],
                    },
                    "codes": CODES,
                },
            },
        },
    },
}


@require_GET
def openapi_document(request: HttpRequest) -> JsonResponse:
    """Serve the API description (public: it holds no data)."""
    return JsonResponse(DOCUMENT)

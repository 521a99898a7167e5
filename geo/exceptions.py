"""The one error family of Mipaka.

Every error a user can cause is a ``GeoError`` with a stable ``code``. The
command line translates it once into ``CommandError`` and the HTTP API once
into ``{"error": {"code", "message"}}``; nothing else catches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable machine-readable codes, shared by the command line and the API."""

    INVALID_INPUT = "invalid_input"
    NO_INPUT = "no_input"
    UNKNOWN_PARENT = "unknown_parent"
    IMPORT_IN_PROGRESS = "import_in_progress"
    REMOVAL_REFUSED = "removal_refused"
    DOWNLOAD_FAILED = "download_failed"
    BOUNDARY_NOT_FOUND = "not_found"
    NOT_FOUND = "not_found"
    INVALID_QUERY = "invalid_query"
    ALIAS_CONFLICT = "alias_conflict"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    TOO_LARGE = "too_large"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"


class GeoError(Exception):
    """Base of every error Mipaka reports to a user."""

    code: ErrorCode = ErrorCode.INVALID_INPUT
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GeoError):
    """Input files that cannot be imported; ``problems`` has one line per problem."""

    code = ErrorCode.INVALID_INPUT

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the input; nothing was changed"
        super().__init__("\n".join([header, *self.problems]))


class NoInput(GeoError):
    """The paths given hold no file an import can use."""

    code = ErrorCode.NO_INPUT


class ImportInProgress(GeoError):
    """Another import holds the import lock."""

    code = ErrorCode.IMPORT_IN_PROGRESS
    http_status = 409


class RemovalRefused(GeoError):
    """The import would remove boundaries that something still depends on."""

    code = ErrorCode.REMOVAL_REFUSED
    http_status = 409


class DownloadFailed(GeoError):
    """A file could not be fetched or did not validate."""

    code = ErrorCode.DOWNLOAD_FAILED
    http_status = 502


class BoundaryNotFound(GeoError):
    """No boundary has the requested id."""

    code = ErrorCode.BOUNDARY_NOT_FOUND
    http_status = 404


class BoundaryRekeyed(BoundaryNotFound):
    """The requested id was a boundary's until an import gave it another: ``osm_id``."""

    def __init__(self, message: str, *, osm_id: str) -> None:
        super().__init__(message)
        self.osm_id = osm_id


class JobNotFound(GeoError):
    """No import job has the requested id."""

    code = ErrorCode.NOT_FOUND
    http_status = 404


class InvalidQuery(GeoError):
    """A request parameter is missing or malformed."""

    code = ErrorCode.INVALID_QUERY


class AliasConflict(GeoError):
    """An alias would name two siblings in one workspace."""

    code = ErrorCode.ALIAS_CONFLICT
    http_status = 409


class Unauthorized(GeoError):
    """No token, or a token that opens nothing."""

    code = ErrorCode.UNAUTHORIZED
    http_status = 401


class Forbidden(GeoError):
    """Signed in, but the role (or a missing CSRF token) does not allow this."""

    code = ErrorCode.FORBIDDEN
    http_status = 403


class Unavailable(GeoError):
    """The lookup index is not loaded yet, or the database is needed and unreachable."""

    code = ErrorCode.UNAVAILABLE


class TooLarge(GeoError):
    """An upload over the size limit."""

    code = ErrorCode.TOO_LARGE
    http_status = 413


class QueueUnavailable(GeoError):
    """The job queue (Redis) could not be reached; the job was not queued."""

    code = ErrorCode.QUEUE_UNAVAILABLE
    http_status = 503


class PayloadTooLarge(GeoError):
    """A request body over the size the endpoint (or the deployment) accepts."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413


class UnsupportedMediaType(GeoError):
    """A request body in a format the endpoint does not read."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    http_status = 415


class RateLimited(GeoError):
    """Too many failed attempts from one client; ``retry_after`` is in seconds."""

    code = ErrorCode.RATE_LIMITED
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

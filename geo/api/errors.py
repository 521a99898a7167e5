"""The one place where errors become HTTP responses, and tokens become workspaces."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from geo.exceptions import GeoError, Unauthorized
from geo.workspaces import WorkspaceAccess, find_workspace_by_token

logger = logging.getLogger(__name__)

ApiView: TypeAlias = Callable[..., HttpResponse | dict[str, Any] | list[Any]]


def error_response(*, status: int, code: str, message: str) -> JsonResponse:
    """Build the error body every endpoint uses: ``{"error": {"code", "message"}}``."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def authenticate(request: HttpRequest) -> WorkspaceAccess:
    """Return the workspace of the request's ``Authorization: Token <token>``.

    Raises
    ------
    Unauthorized
        No token, a malformed header, or an unknown token.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "token" or not token.strip():
        raise Unauthorized("send 'Authorization: Token <token>'")
    access = find_workspace_by_token(token.strip())
    if access is None:
        raise Unauthorized("unknown token")
    return access


def api_endpoint(*methods: str) -> Callable[[ApiView], Callable[..., HttpResponse]]:
    """Wrap a view: method check, token, GeoError → JSON error, never a bare 500.

    The view receives ``(request, access, **url_kwargs)`` and returns a
    response, or a dict/list to send as JSON.
    """
    allowed = set(methods)

    def decorate(view: ApiView) -> Callable[..., HttpResponse]:
        @csrf_exempt  # token authentication: no cookie, so no cross-site request to forge
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = error_response(
                    status=405,
                    code="method_not_allowed",
                    message=f"use {' or '.join(sorted(allowed))}",
                )
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                access = authenticate(request)
                result = view(request, access, **kwargs)
            except GeoError as exc:
                return error_response(
                    status=exc.http_status, code=str(exc.code), message=exc.message
                )
            except Exception:
                logger.exception("unexpected error in %s", request.path)
                return error_response(
                    status=500, code="server_error", message="unexpected error; it was logged"
                )
            if isinstance(result, HttpResponse):
                return result
            return JsonResponse(result, safe=False, json_dumps_params={"ensure_ascii": False})

        return wrapper

    return decorate

"""The one place where errors become HTTP responses, and tokens become workspaces."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found

from geo import ratelimit
from geo.api.params import check_text
from geo.exceptions import Forbidden, GeoError, PayloadTooLarge, RateLimited, Unauthorized
from geo.workspaces import WorkspaceAccess, access_for_user, find_workspace_by_token

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The session key that holds a signed-in person's current workspace.
SESSION_WORKSPACE_KEY = "workspace_id"

ApiView: TypeAlias = Callable[..., HttpResponse | dict[str, Any] | list[Any]]


def error_response(*, status: int, code: str, message: str) -> JsonResponse:
    """Build the error body every endpoint uses: ``{"error": {"code", "message"}}``."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def authenticate(request: HttpRequest) -> WorkspaceAccess:
    """Return the workspace a request acts for.

    An ``Authorization: Token <token>`` header (integrations) wins; otherwise a
    signed-in browser session acts for the person's current workspace. Session
    requests that change something must carry Django's CSRF token, since a
    cookie is sent by any site that makes the browser post here.

    Every token nobody issued counts against the client's address; past
    ``MIPAKA_BAD_TOKEN_LIMIT`` the address gets 429 for any token until the
    window ends, so tokens cannot be guessed at speed.

    Raises
    ------
    Unauthorized
        No token and no session, a malformed header, or an unknown, revoked
        or expired token.
    Forbidden
        A session request without a valid CSRF token, or a person in no workspace.
    RateLimited
        Too many unknown tokens from this address.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return _session_access(request, user.pk)
        raise Unauthorized("send 'Authorization: Token <token>', or sign in")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "token" or not token.strip():
        raise Unauthorized("send 'Authorization: Token <token>'")
    limit = ratelimit.bad_token_limit()
    client = ratelimit.client_ip(request)
    ratelimit.check(limit, client)
    access = find_workspace_by_token(token.strip())
    if access is None:
        ratelimit.record_failure(limit, client)
        raise Unauthorized("unknown token")
    return access


def _session_access(request: HttpRequest, user_id: int) -> WorkspaceAccess:
    if request.method not in SAFE_METHODS:
        check = _CsrfCheck(lambda _request: HttpResponse())
        check.process_request(request)
        reason = check.process_view(request, lambda _request: HttpResponse(), (), {})
        if reason is not None:
            raise Forbidden(f"CSRF check failed: {reason}; send the X-CSRFToken header")
    access = access_for_user(user_id, request.session.get(SESSION_WORKSPACE_KEY))
    if access is None:
        raise Forbidden("you belong to no workspace; ask a workspace admin to add you")
    return access


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check, run by hand: the API views are exempt from the middleware."""

    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


ErrorShape: TypeAlias = Callable[[int, str, str], HttpResponse]


def _default_shape(status: int, code: str, message: str) -> HttpResponse:
    return error_response(status=status, code=code, message=message)


def api_endpoint(
    *methods: str, errors: ErrorShape = _default_shape
) -> Callable[[ApiView], Callable[..., HttpResponse]]:
    """Wrap a view: method check, token or session, GeoError → JSON error, never a bare 500.

    The view receives ``(request, access, **url_kwargs)`` and returns a
    response, or a dict/list to send as JSON. ``errors`` shapes error bodies
    (RapidPro's endpoints keep RapidPro's shape).
    """
    allowed = set(methods)

    def decorate(view: ApiView) -> Callable[..., HttpResponse]:
        @csrf_exempt  # tokens need none; authenticate() checks CSRF for sessions
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = errors(405, "method_not_allowed", f"use {' or '.join(sorted(allowed))}")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                access = authenticate(request)
                for name, value in kwargs.items():
                    if isinstance(value, str):
                        check_text(value, field=name)
                result = view(request, access, **kwargs)
            except RequestDataTooBig:
                exc = PayloadTooLarge("body: larger than this deployment accepts")
                return errors(exc.http_status, str(exc.code), exc.message)
            except GeoError as exc:
                response = errors(exc.http_status, str(exc.code), exc.message)
                if isinstance(exc, RateLimited):
                    response["Retry-After"] = str(exc.retry_after)
                return response
            except Exception:
                logger.exception("unexpected error in %s", request.path)
                return errors(500, "server_error", "unexpected error; it was logged")
            if isinstance(result, HttpResponse):
                return result
            return JsonResponse(result, safe=False, json_dumps_params={"ensure_ascii": False})

        return wrapper

    return decorate


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer an unknown URL: the JSON error under /api/ and /tiles/, Django's page elsewhere."""
    if request.path.startswith(("/api/", "/tiles/")):
        return error_response(status=404, code="not_found", message=f"no such URL {request.path!r}")
    return page_not_found(request, exception or Http404())

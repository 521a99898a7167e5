"""The one place where errors become HTTP responses, and tokens become workspaces."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found

from geo import ratelimit
from geo.api.params import check_text
from geo.exceptions import Forbidden, GeoError, PayloadTooLarge, RateLimited, Unauthorized
from geo.workspaces import (
    OperatorAccess,
    WorkspaceAccess,
    access_for_user,
    find_access_by_token,
    operator_access,
    read_shared,
)

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The session key that holds a signed-in person's current workspace.
SESSION_WORKSPACE_KEY = "workspace_id"

ApiView: TypeAlias = Callable[
    ..., HttpResponse | StreamingHttpResponse | dict[str, Any] | list[Any]
]


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
        A session request without a valid CSRF token, a person in no
        workspace, or an operator token (it opens only the import endpoints).
    RateLimited
        Too many unknown tokens from this address.
    """
    token = _header_token(request)
    if token is None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return _session_access(request, user.pk)
        raise Unauthorized("send 'Authorization: Token <token>', or sign in")
    access = _token_access(request, token)
    if isinstance(access, OperatorAccess):
        raise Forbidden("an operator token opens only the import endpoints; use a workspace token")
    return access


def authenticate_operator(request: HttpRequest) -> OperatorAccess:
    """Return the operator a request acts for: an operator token, or a signed-in staff user.

    Raises
    ------
    Unauthorized
        No token and no session, a malformed header, or an unknown token.
    Forbidden
        A workspace token or a person who is not staff (only operators import:
        boundaries are shared by every workspace), or a session write without
        a valid CSRF token.
    """
    token = _header_token(request)
    if token is None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            raise Unauthorized("send 'Authorization: Token <operator token>', or sign in")
        _check_csrf(request)
        operator = operator_access(user.pk)
        if operator is None:
            raise Forbidden("only operators (staff) may import; boundaries are shared by everyone")
        return operator
    access = _token_access(request, token)
    if not isinstance(access, OperatorAccess):
        raise Forbidden(
            "only operators may import: a workspace token cannot; use an operator token"
            " (manage.py create_operator)"
        )
    return access


def _token_access(request: HttpRequest, token: str) -> WorkspaceAccess | OperatorAccess:
    """Return what a token opens; guessing is limited per client address.

    Raises
    ------
    Unauthorized
        An unknown, revoked or expired token.
    RateLimited
        Too many unknown tokens from this address.
    """
    limit = ratelimit.bad_token_limit()
    client = ratelimit.client_ip(request)
    if ratelimit.check_pushed(limit, client):
        # Whether the client is limited and the tokens' version were pushed to
        # this process (geo.shared_state): no round trip for a token it knows.
        access = find_access_by_token(token)
        if access is None:  # a guess, perhaps: the count itself decides
            ratelimit.check(limit, client)
    else:
        # The client's failures and the token cache's shared version: one round trip.
        failures_key = ratelimit.window_key(limit, client)
        shared = read_shared(failures_key)
        if shared is not None:
            ratelimit.check(limit, client, failures=shared.get(failures_key) or 0)
        else:
            ratelimit.check(limit, client)
        access = find_access_by_token(token, shared=shared)
    if access is None:
        ratelimit.record_failure(limit, client)
        raise Unauthorized("unknown token")
    return access


def _header_token(request: HttpRequest) -> str | None:
    """Return the token of the Authorization header, None without one.

    Raises
    ------
    Unauthorized
        A header that is not ``Token <token>``.
    """
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "token" or not token.strip():
        raise Unauthorized("send 'Authorization: Token <token>'")
    return token.strip()


def _check_csrf(request: HttpRequest) -> None:
    if request.method not in SAFE_METHODS:
        check = _CsrfCheck(lambda _request: HttpResponse())
        check.process_request(request)
        reason = check.process_view(request, lambda _request: HttpResponse(), (), {})
        if reason is not None:
            raise Forbidden(f"CSRF check failed: {reason}; send the X-CSRFToken header")


def _session_access(request: HttpRequest, user_id: int) -> WorkspaceAccess:
    _check_csrf(request)
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
    *methods: str, errors: ErrorShape = _default_shape, operator: bool = False
) -> Callable[[ApiView], Callable[..., HttpResponseBase]]:
    """Wrap a view: method check, token or session, GeoError → JSON error, never a bare 500.

    The view receives ``(request, access, **url_kwargs)`` and returns a
    response, or a dict/list to send as JSON. ``access`` is a
    ``WorkspaceAccess``, or with ``operator=True`` an ``OperatorAccess``.
    ``errors`` shapes error bodies (RapidPro's endpoints keep RapidPro's shape).
    """
    check: Callable[[HttpRequest], WorkspaceAccess | OperatorAccess] = (
        authenticate_operator if operator else authenticate
    )
    allowed = set(methods)

    def decorate(view: ApiView) -> Callable[..., HttpResponseBase]:
        @csrf_exempt  # tokens need none; authenticate() checks CSRF for sessions
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                response = errors(405, "method_not_allowed", f"use {' or '.join(sorted(allowed))}")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                access = check(request)
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
                elif exc.http_status == 503:  # not loaded yet, or no database: soon
                    response["Retry-After"] = "2"
                return response
            except (OperationalError, InterfaceError):
                # A lost database is not our bug: geo.availability's middleware answers
                # 503 with Retry-After (any other database error is ours: a 500, logged).
                raise
            except Exception:
                logger.exception("unexpected error in %s", request.path)
                return errors(500, "server_error", "unexpected error; it was logged")
            if isinstance(result, HttpResponseBase):
                return result
            return JsonResponse(result, safe=False, json_dumps_params={"ensure_ascii": False})

        return wrapper

    return decorate


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer an unknown URL: the JSON error under /api/ and /tiles/, Django's page elsewhere."""
    if request.path.startswith(("/api/", "/tiles/")):
        return error_response(status=404, code="not_found", message=f"no such URL {request.path!r}")
    return page_not_found(request, exception or Http404())

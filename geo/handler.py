"""The WSGI handler: API calls with a token skip the browser middleware.

An API call with a token, a tile, a health check: none of them reads a
session, a signed-in user, a CSRF cookie or a flash message, nor needs a
page's headers, yet Django's middleware for those would run for each (about
a third of a lookup's time). ``ApiAwareWSGIHandler`` loads two chains: all
of ``MIDDLEWARE``, and ``MIDDLEWARE`` without
``MIPAKA_BROWSER_ONLY_MIDDLEWARE``. The full one answers:

- every path outside ``API_PREFIXES`` (pages, the admin, static files,
  RapidPro's alias-editor endpoints);
- an API request that carries the session cookie and no ``Authorization``
  header: the web map calls the API with its session cookie and
  ``X-CSRFToken``, and is authenticated and CSRF-checked exactly as before.

Any other API request takes the short chain: it has no ``request.user``
nor ``request.session``, so ``geo.api.errors.authenticate`` accepts only its
token (a token wins over a session anyway). ``MIDDLEWARE`` itself stays the
full list, so Django's checks (admin, ``check --deploy``) see it whole.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import ResolverMatch, get_resolver
from django.urls.resolvers import URLResolver

# Paths that answer without a browser session unless the request brings one.
API_PREFIXES = ("/api/", "/tiles/", "/health", "/ready")
# Paths whose view the short chain remembers: the API's few paths, and the
# tiles last asked for (a tile's path names it, so those come and go).
RESOLVED_PATHS = 1024


def api_middleware() -> list[str]:
    """Return ``MIDDLEWARE`` without the browser-only entries, in order."""
    skipped = set(getattr(settings, "MIPAKA_BROWSER_ONLY_MIDDLEWARE", ()))
    return [path for path in settings.MIDDLEWARE if path not in skipped]


def is_browser_request(request: HttpRequest) -> bool:
    """Tell whether a request needs the browser middleware (see the module)."""
    if not request.path_info.startswith(API_PREFIXES):
        return True
    return settings.SESSION_COOKIE_NAME in request.COOKIES and (
        "HTTP_AUTHORIZATION" not in request.META
    )


class ApiAwareWSGIHandler(WSGIHandler):
    """Django's WSGI handler, answering bare API calls through the short chain."""

    def __init__(self) -> None:
        super().__init__()
        self.api = ApiHandler()
        with _middleware(api_middleware()):
            self.api.load_middleware()

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """Answer through the full chain for browser requests, else the short one."""
        if is_browser_request(request):
            return super().get_response(request)
        response = self.api.get_response(request)
        # As CommonMiddleware does for pages: with a length, gunicorn sends the
        # body as is, not in chunks (one write less per answer).
        if isinstance(response, HttpResponse) and "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        return response


class ApiHandler(BaseHandler):
    """The short chain's handler: resolves a path once, not on every request.

    Resolving walks the URL patterns and builds a ``ResolverMatch`` (about a
    fifth of a bare API call's time in Django). A path's match depends only
    on the path and the URL configuration, so the match is kept per
    (resolver, path); a changed configuration (tests) is another resolver.
    Views receive copies of its arguments, never the match's own mapping.
    """

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """Return the view of ``request.path_info``, remembered per path."""
        if hasattr(request, "urlconf"):  # set by a middleware: Django's way
            return super().resolve_request(request)
        match = _resolve(get_resolver(), request.path_info)
        request.resolver_match = match
        return match


@functools.lru_cache(maxsize=RESOLVED_PATHS)
def _resolve(resolver: URLResolver, path: str) -> ResolverMatch:
    # Resolver404 is raised, not kept: an unknown path is resolved each time.
    return resolver.resolve(path)


@contextmanager
def _middleware(paths: list[str]) -> Iterator[None]:
    # BaseHandler.load_middleware reads settings.MIDDLEWARE: give it the short
    # list while it builds (once, at start-up, before any request).
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = paths
    try:
        yield
    finally:
        settings.MIDDLEWARE = full

"""Browser machinery (sessions, CSRF, sign-in, messages) only for requests that use it.

An API call with a token, a tile, a health check: none of them reads a
session, a signed-in user or a flash message, yet Django's session, CSRF,
authentication and messages middleware would run for each (a third of a
lookup's time). ``BrowserMiddleware`` holds those middleware as its own
inner chain and runs it only for browser requests:

- every path outside ``API_PREFIXES`` (pages, the admin, static files,
  RapidPro's alias-editor endpoints);
- an API request that carries the session cookie and no ``Authorization``
  header: the web map calls the API with its session cookie and
  ``X-CSRFToken``, and is authenticated and CSRF-checked exactly as before.

Any other API request goes straight on: it has no ``request.user`` nor
``request.session``, so ``geo.api.errors.authenticate`` accepts only its
token (a token wins over a session anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

# Paths that answer without a browser session unless the request brings one.
API_PREFIXES = ("/api/", "/tiles/", "/health", "/ready")

ViewHook = Callable[..., HttpResponse | None]


class BrowserMiddleware:
    """Run ``settings.MIPAKA_BROWSER_MIDDLEWARE`` for browser requests only (see the module)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.session_cookie = settings.SESSION_COOKIE_NAME
        # Built as Django's handler builds its chain: innermost last, each
        # layer's errors turned into responses, view hooks in order.
        handler = convert_exception_to_response(get_response)
        view_hooks: list[ViewHook] = []
        for path in reversed(settings.MIPAKA_BROWSER_MIDDLEWARE):
            middleware: Any = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                view_hooks.insert(0, middleware.process_view)
            handler = convert_exception_to_response(middleware)
        self.browser = cast(Callable[[HttpRequest], HttpResponse], handler)
        self.view_hooks = view_hooks

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer through the browser middleware, or straight on for a bare API call."""
        if self.is_browser(request):
            return self.browser(request)
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., HttpResponse],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """Run the inner middleware's view hooks (CSRF's check) for browser requests."""
        if not self.is_browser(request):
            return None
        for hook in self.view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None

    def is_browser(self, request: HttpRequest) -> bool:
        """Tell whether a request needs the browser machinery (see the module)."""
        if not request.path_info.startswith(API_PREFIXES):
            return True
        return self.session_cookie in request.COOKIES and "HTTP_AUTHORIZATION" not in request.META

"""The Content-Security-Policy of our HTML pages.

Pages load only our own scripts, styles and images: no inline script or
style, no ``eval``, nothing framed, forms posting only here. The base map's
tile host (``MIPAKA_BASEMAP_URL``), when one is set, is the one other origin
allowed, for images. The Django admin is left to Django (it carries inline
scripts of its own and is for operators only).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def tile_origin(url: str) -> str | None:
    """Return the CSP source of an XYZ tile URL's host (``{s}`` subdomains as ``*``)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def build_policy(*, basemap_url: str) -> str:
    """Return the policy for our pages, allowing the base map's tiles when there is one."""
    images = ["'self'", "data:"]
    origin = tile_origin(basemap_url) if basemap_url else None
    if origin:
        images.append(origin)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": images,
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    """Add the policy to every HTML response outside the Django admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer, then add the header to HTML pages."""
        response = self.get_response(request)
        if (
            HEADER not in response
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/admin/")
        ):
            response[HEADER] = build_policy(basemap_url=settings.MIPAKA_BASEMAP_URL)
        return response

"""The one view of the bare app: a small JSON answer, like ``/api/v1/ping``'s."""

from django.http import HttpRequest, JsonResponse
from django.urls import path


def ping(request: HttpRequest) -> JsonResponse:
    """Answer trivially."""
    return JsonResponse({"ok": True, "workspace": "bench"})


urlpatterns = [path("api/v1/ping", ping)]

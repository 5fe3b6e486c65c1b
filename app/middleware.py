"""Project-wide middleware."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def api_no_store(get_response: Callable[[HttpRequest], HttpResponse]):
    """Every answer under /api/ is personal or an error: never kept by a cache (RFC 9111,
    RFC 6749 section 5.1)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if request.path_info.startswith("/api/"):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response

    return middleware

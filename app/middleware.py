"""Project-wide middleware."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def api_no_store(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """``Cache-Control: no-store`` and ``Pragma: no-cache`` on every answer under /api/, its
    errors (the JSON 404 and 500 of ``app.error_handlers``) and redirects included."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        # Every answer under /api/ carries tokens, a user's data or an error about them: no
        # cache may keep or reuse it (RFC 9111 section 5.2.2.5), as RFC 6749 section 5.1
        # requires of token responses; Pragma for HTTP/1.0 caches (RFC 9111 section 5.4).
        # path_info is below any script prefix (API Gateway's /STAGE).
        if request.path_info.startswith("/api/"):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response

    return middleware

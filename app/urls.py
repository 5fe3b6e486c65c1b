"""Top-level routes: the front door, the API, its documentation and the admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from app.exceptions import api_not_found
from app.views import SchemaView, front_door

urlpatterns = [
    path("", front_door, name="front-door"),
    path("admin/", admin.site.urls),
    path("api/", include("app.accounts.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # The split view serves its setup script from a URL of ours: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    re_path(r"^api/", api_not_found),
]

handler404 = "app.exceptions.not_found"
handler500 = "app.exceptions.server_error"

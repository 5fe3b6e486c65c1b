"""Top-level routes: the front door, the API, its documentation, the published keys and the
admin."""

from django.contrib import admin
from django.urls import include, path, re_path

from app.accounts.views import DiscoveryView, PublishedKeysView
from app.error_handlers import api_not_found
from app.views import docs, favicon, front_door, link_page

urlpatterns = [
    path("", front_door, name="front-door"),
    # Browsers ask for it on pages that name no icon: the product's, not a 404.
    path("favicon.ico", favicon, name="favicon"),
    # The pages the links of our messages open (app/accounts/mail.py names them).
    path("password/reset/", link_page("reset"), name="reset-page"),
    path("email/verify/", link_page("verify"), name="verify-page"),
    path("email/revert/", link_page("revert"), name="revert-page"),
    # At the issuer's root (under API Gateway's stage prefix), where a JWT authorizer looks.
    path(".well-known/jwks.json", PublishedKeysView.as_view(), name="jwks"),
    path(".well-known/openid-configuration", DiscoveryView.as_view(), name="openid-configuration"),
    path("admin/", admin.site.urls),
    path("api/", include("app.accounts.urls")),
    path("api/schema/", docs("schema"), name="schema"),
    path("api/docs/", docs("swagger_ui"), name="swagger-ui"),
    path("api/redoc/", docs("redoc"), name="redoc"),
    re_path(r"^api/", api_not_found),
]

handler404 = "app.error_handlers.not_found"
handler500 = "app.error_handlers.server_error"

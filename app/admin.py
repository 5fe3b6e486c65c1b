"""The project's admin site: Django's, with its login form throttled like the API's login.

The admin is public on API Gateway and the Function URL, so its form shares the failed-login
counters of ``POST /api/login/`` (per e-mail and per address) and answers 429 past them.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from app import metrics
from app.accounts import services
from app.accounts.views import client_address, user_agent
from app.errors import Throttled


class ThrottledLoginForm(AdminAuthenticationForm):
    """Counts the attempt before the password is checked, as the API's login does."""

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = services.authenticate_throttled(
                    email=email,
                    password=password,
                    address=client_address(self.request),
                    user_agent=user_agent(self.request),
                    now=timezone.now(),
                )
            except Throttled as error:
                raise ValidationError(error.message, code="throttled") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminSite(admin.AdminSite):
    login_form = ThrottledLoginForm
    site_header = "Authentication API administration"
    site_title = "Authentication API"
    index_title = "Users, sessions and live settings"

    def login(self, request, extra_context=None):
        """Django's login view; a throttled attempt answers 429 instead of 200."""
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
            metrics.count(metrics.THROTTLED)
        return response

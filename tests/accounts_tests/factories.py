"""Shared test data: a password that passes the validators, and users made with it."""

import re

from app.accounts.models import User
from tests.support import PASSWORD

__all__ = ["PASSWORD", "admin_login_form", "login_throttle", "make_user"]


def login_throttle(**limits) -> dict:
    """``LOGIN_THROTTLE`` with ``limits`` changed and the rest as configured."""
    from django.conf import settings

    return {**settings.LOGIN_THROTTLE, **limits}


def make_user(email="user@example.com", password=PASSWORD, **fields):
    return User.objects.create_user(email=email, password=password, **fields)


def admin_login_form(page: str, email: str = "admin@example.com", next_url: str = "/dev/admin/"):
    """The admin login form's fields, with the CSRF token read from the login ``page``."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    return {"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD, "next": next_url}

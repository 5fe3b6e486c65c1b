"""Shared test data: a password that passes the validators, and users made with it."""

from app.accounts.models import User
from devtools import PASSWORD

__all__ = ["PASSWORD", "login_throttle", "make_user"]


def login_throttle(**limits) -> dict:
    """``LOGIN_THROTTLE`` with ``limits`` changed and the rest as configured."""
    from django.conf import settings

    return {**settings.LOGIN_THROTTLE, **limits}


def make_user(email="user@example.com", password=PASSWORD, **fields):
    return User.objects.create_user(email=email, password=password, **fields)

"""Shared test data: a password that passes the validators, and users made with it."""

from app.accounts.models import User

PASSWORD = "correct-horse-battery"


def make_user(email="user@example.com", password=PASSWORD, **fields):
    return User.objects.create_user(email=email, password=password, **fields)

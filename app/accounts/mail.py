"""The messages the accounts app sends, each from its templates (plain text and HTML on one
base layout: the product's name, the link, the token, what to do if it wasn't you), through
Django's mail API and whichever backend the settings choose (``DJANGO_EMAIL_BACKEND``).

The backend is loaded when a message is sent, so SES's (boto3) never weighs on a cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


@dataclass(frozen=True)
class Message:
    """One kind of message: its subject, its templates' name and the page its link opens."""

    subject: str
    template: str
    page: str


MESSAGES = {
    "password_reset": Message("Set a new password", "password_reset", "/password/reset/"),
    "verify_email": Message("Confirm your e-mail address", "verify_email", "/email/verify/"),
    "email_changed": Message("Your e-mail address was changed", "email_changed", "/email/revert/"),
}


def link(*, kind: str, token: str, base_url: str) -> str:
    """The page of the front door that a message of ``kind`` links, with its token."""
    return f"{base_url.rstrip('/')}{MESSAGES[kind].page}?{urlencode({'token': token})}"


def send(*, kind: str, to: str, token: str, base_url: str, **context: str) -> None:
    """Render the message ``kind`` for ``to`` with its link and send it now."""
    message = MESSAGES[kind]
    values = {
        "product": settings.PRODUCT_NAME,
        "subject": message.subject,
        "link": link(kind=kind, token=token, base_url=base_url),
        "token": token,
        "to": to,
        **context,
    }
    email = EmailMultiAlternatives(
        subject=f"{settings.PRODUCT_NAME}: {message.subject}",
        body=render_to_string(f"accounts/mail/{message.template}.txt", values),
        to=[to],
    )
    email.attach_alternative(
        render_to_string(f"accounts/mail/{message.template}.html", values), "text/html"
    )
    email.send()

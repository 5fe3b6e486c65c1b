"""What the browsable API says of each view (DRF's ``VIEW_DESCRIPTION_FUNCTION`` and its
renderer): the view's own description, for people (no reStructuredText markup), and for an
endpoint that needs a login, how to call it, since the browsable API sends no bearer token."""

from __future__ import annotations

import re

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from rest_framework import renderers, status
from rest_framework.permissions import AllowAny

BEARER_HOW_TO = (
    "This endpoint needs `Authorization: Bearer <access token>`: get one from "
    "POST /api/login/, then call it with curl (the README shows how), or use Authorize in "
    "Swagger UI at /api/docs/. The browsable API sends no token, so here it answers 401."
)


def view_description(view, html: bool = False) -> str | SafeString:
    """The view's description, plus how to send a bearer token when the view needs one."""
    text = " ".join((getattr(view, "description", None) or "").split())
    if not any(isinstance(permission, AllowAny) for permission in view.get_permissions()):
        text = f"{text} {BEARER_HOW_TO}".strip()
    if not html:
        return text
    # `code` spans as <code>, everything else escaped: the one markup the text uses.
    parts = re.split(r"`([^`]+)`", text)
    return format_html(
        "<p>{}</p>",
        SafeString(
            "".join(
                f"<code>{escape(part)}</code>" if index % 2 else escape(part)
                for index, part in enumerate(parts)
            )
        ),
    )


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API, whose 401 page keeps the description: that is where a person
    reads how to send the token the page lacks."""

    def get_description(self, view, status_code: int) -> str:
        """The view's description, on a 401 too (DRF leaves it out of 401s and 403s)."""
        if status_code == status.HTTP_401_UNAUTHORIZED:
            return view.get_view_description(html=True)
        return super().get_description(view, status_code)
